"""Packaging: ``setup.py bdist_msdeploy`` and ``iiswsgi package`` of the
sample Web Deploy project with many extra small modules, without the
wheelhouse (the target: each at most 1.5x the baseline) and
``bdist_msdeploy`` with it, against ``python -m zipfile -c`` of the same
tree, alternated over the rounds."""

import os
import shutil
import subprocess
import time
from typing import Dict, List, Optional, Tuple

from harness import ROOT, BenchError, Run
from harness.processes import child_env
from harness.rounds import alternate
from harness.stats import median, ratio

NAME = "package"
BASELINE = "zipfile -c"   # every command's time is also shown over this
#: The commands with a target: at most this many times the baseline.
TARGETS = {"bdist_msdeploy --no-wheelhouse": 1.5,
           "iiswsgi package --no-wheelhouse": 1.5}


def files(quick: bool) -> int:
    """How many extra modules the application has."""
    return 500 if quick else 5000


def settings(run: Run) -> str:
    return ("packaging: an app of %d files, %d rounds"
            % (files(run.quick), run.rounds))


def make_package_tree(root: str, count: int) -> None:
    """The sample Web Deploy project plus ``count`` small modules."""
    sample = os.path.join(ROOT, "examples", "sample.msdeploy")
    shutil.rmtree(root, ignore_errors=True)     # an earlier run's tree
    shutil.copytree(sample, root)
    per_folder = 100
    for index in range(count):
        folder = os.path.join(root, "bigapp",
                              "part%03d" % (index // per_folder))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "module%04d.py" % index), "w") as f:
            f.write("# module %d\nVALUE = %r\n" % (index, "x" * 1500))
    with open(os.path.join(root, "MANIFEST.in"), "a") as f:
        f.write("recursive-include bigapp *.py\n")


def timed(argv: List[str], cwd: str, env: dict) -> float:
    """Seconds ``argv`` took; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise BenchError("%s failed:\n%s" % (" ".join(argv),
                                             done.stderr[-3000:]))
    return elapsed


def measure_commands(python: str, scratch: str, count: int,
                     rounds: int) -> Dict[str, object]:
    """Seconds for ``setup.py bdist_msdeploy`` and ``iiswsgi package``
    without the wheelhouse (the figures the target is about),
    ``bdist_msdeploy`` with it (from the download cache the warm-up
    fills), and ``python -m zipfile -c`` of the same tree."""
    root = os.path.join(scratch, "package")
    make_package_tree(root, count)
    env = child_env()
    archive = os.path.join(scratch, "tree.zip")
    commands = [
        ("bdist_msdeploy --no-wheelhouse", [python, "setup.py", "-q",
                                            "bdist_msdeploy",
                                            "--no-wheelhouse"]),
        ("iiswsgi package --no-wheelhouse", [
            os.path.join(os.path.dirname(python), "iiswsgi"), "package",
            "--no-wheelhouse", "."]),
        ("bdist_msdeploy", [python, "setup.py", "-q", "bdist_msdeploy"]),
        (BASELINE, [python, "-m", "zipfile", "-c", archive, "."]),
    ]
    timed(commands[2][1], root, env)   # warm-up: egg-info, wheel cache

    def measure_one(name, argv):
        # Each command starts from a tree without the others' output.
        shutil.rmtree(os.path.join(root, "dist"), ignore_errors=True)
        if os.path.exists(archive):
            os.remove(archive)
        return timed(argv, root, env)

    figures = alternate(commands, rounds, measure_one)
    return {"files": count, "seconds": {name: median(values) for name, values
                                        in figures.items()}}


def measure(run: Run) -> Dict[str, object]:
    results = measure_commands(run.python, run.scratch, files(run.quick),
                               run.rounds)
    print("package: %s" % ", ".join(
        "%s %.2f s" % item for item in results["seconds"].items()),
        flush=True)
    return results


def comparisons(results: Dict[str, object]
                ) -> List[Tuple[str, float, Optional[float]]]:
    """(command, median seconds, seconds / BASELINE's) of each command."""
    seconds = results["seconds"]
    base = seconds[BASELINE]
    return [(name, value, ratio(value, base))
            for name, value in seconds.items()]
