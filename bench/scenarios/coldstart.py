"""Cold start: the time from starting a gateway as IIS starts it (a
socketpair as standard input, WSGI_HANDLER=flask_app.app, the small Flask
application in bench/flask_app.py) to the last byte of FCGI_END_REQUEST of
the first request, sent as soon as the process is started; and the time
``python -c "import flask_app"`` takes from start to exit, the floor.
The contenders alternate over the rounds (each round starts each one
afresh)."""

import os
import subprocess
import tempfile
import time
from typing import Dict, List, Optional, Tuple

from harness import BENCH, ROOT, BenchError, Run
from harness.pipe import gateway_on_pipe, iis_server_variables, \
    read_response
from harness.processes import child_env, tail
from harness.rounds import alternate
from harness.stats import median, ratio, spread
from iiswsgi.protocol import fastcgi

NAME = "coldstart"
HANDLER = "flask_app.app"
#: What flask_app's ``GET /`` page holds.
EXPECTED = b"<h1>Hello, Flask!</h1>"


def contenders(python: str) -> List[Tuple[str, List[str]]]:
    """(name, argv) of each, in the report's order."""
    return [
        ("iiswsgi", [python, "-m", "iiswsgi"]),
        ("wfastcgi", [python, os.path.join(BENCH, "wfastcgi_launcher.py")]),
        ("import", [python, "-c", "import flask_app"]),
    ]


def rounds(run: Run) -> int:
    """Cold starts are short: four times the rounds of the others."""
    return 3 if run.quick else run.rounds * 4


def settings(run: Run) -> str:
    return "cold start: %d rounds of a Flask app's first request" % rounds(
        run)


def _first_request(name: str, argv: List[str], scratch: str) -> float:
    """Seconds from starting ``argv`` to the end of its first answer."""
    app_dir = tempfile.mkdtemp(prefix="app-", dir=scratch)
    log = os.path.join(scratch, "%s-cold.log" % name)
    errors = os.path.join(scratch, "%s-cold.stderr" % name)
    env = child_env(WSGI_HANDLER=HANDLER, WSGI_LOG=log)
    request = fastcgi.ClientConnection().request(
        1, iis_server_variables(app_dir, "/"))
    with open(errors, "ab") as stderr:
        started = time.perf_counter()
        with gateway_on_pipe(argv, app_dir, env, stderr, 5) \
                as (_process, parent):
            try:
                parent.settimeout(60)
                parent.sendall(request)
                _, stdout, err, _, status = read_response(parent)
                elapsed = time.perf_counter() - started
                if EXPECTED not in stdout or err or status:
                    raise BenchError("answer %r, stderr %r, protocol status"
                                     " %d" % (stdout[:200], err[:200],
                                              status))
            except (BenchError, OSError) as error:
                raise BenchError("cold start: %s: %s\n-- stderr:\n%s-- log:"
                                 "\n%s" % (name, error, tail(errors),
                                           tail(log))) from None
    return elapsed


def _import(argv: List[str], scratch: str) -> float:
    """Seconds ``argv`` (the import of the application) runs."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=scratch, env=child_env(),
                          stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=60)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise BenchError("cold start: %s failed (status %d): %s"
                         % (" ".join(argv[1:]), done.returncode,
                            done.stderr.decode(errors="replace")[-2000:]))
    return elapsed


def _announce(total: int):
    def announce(index, name, seconds):
        print("COLD  round %d/%d %-9s %7.1f ms" % (index + 1, total, name,
                                                   seconds * 1000),
              flush=True)
    return announce


def compile_sources(python: str) -> None:
    """Byte-compile iiswsgi and the application, as pip does at install
    time for what it installs (the contenders from PyPI are): the
    checkout is installed editable, and with PYTHONDONTWRITEBYTECODE set
    each start would compile iiswsgi's source again."""
    done = subprocess.run(
        [python, "-m", "compileall", "-q", os.path.join(ROOT, "iiswsgi"),
         os.path.join(BENCH, "flask_app.py")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    if done.returncode:
        raise BenchError("cold start: compileall failed: %s"
                         % done.stdout.decode(errors="replace")[-2000:])


def measure(run: Run) -> Dict[str, List[float]]:
    """Seconds per contender and round."""
    total = rounds(run)
    compile_sources(run.python)

    def one(name, argv):
        if name == "import":
            return _import(argv, run.scratch)
        return _first_request(name, argv, run.scratch)

    return alternate(contenders(run.python), total, one, _announce(total))


def summarize(results: Dict[str, List[float]]) -> Dict[str, dict]:
    """Per contender: the median milliseconds and their range."""
    summary = {}
    for name, values in results.items():
        ms = [v * 1000 for v in values]
        summary[name] = {"ms": median(ms), "range": spread(ms),
                         "rounds": len(ms)}
    return summary


def comparisons(summary: Dict[str, dict]
                ) -> List[Tuple[str, Optional[float], str]]:
    """(label, figure, target) of the two comparisons: iiswsgi's time over
    wfastcgi's (at most 1), and iiswsgi's less the import's, in ms (at
    most 50)."""
    rows = []
    mine = summary.get("iiswsgi")
    if mine and "wfastcgi" in summary:
        rows.append(("cold start: iiswsgi / wfastcgi (time)",
                     ratio(mine["ms"], summary["wfastcgi"]["ms"]),
                     "at most 1"))
    if mine and "import" in summary:
        rows.append(("cold start: iiswsgi − import (ms)",
                     mine["ms"] - summary["import"]["ms"], "at most 50"))
    return rows
