"""Facts about a run, for its report: the machine, the versions of
everything measured, the load, and a digest of iiswsgi's source (it is
installed editable and may be edited while the run goes on)."""

import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
from typing import Dict, Optional

from harness import ROOT


def find_tool(name: str) -> Optional[str]:
    """``name`` on PATH, else in /usr/sbin or /usr/bin (nginx is in
    /usr/sbin, often not on a user's PATH); None if nowhere."""
    return shutil.which(name) or next(
        (p for p in ("/usr/sbin/" + name, "/usr/bin/" + name)
         if os.access(p, os.X_OK)), None)


def command_output(argv) -> str:
    """What ``argv`` prints (stdout then stderr), "" if it cannot run."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stdout + done.stderr).strip()


def machine_facts() -> Dict[str, object]:
    """Cores, CPU model, memory, kernel and Python."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            memory = "%.0f GiB" % (kib / 1048576.0)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor() or "unknown",
        "memory": memory,
        "kernel": platform.release(),
        "python": "%s (%s)" % (platform.python_version(),
                               platform.python_implementation()),
    }


def versions(nginx: str, wrk: str, venv_bin: str) -> Dict[str, str]:
    """The version of every contender and tool."""
    def dist(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    commit = command_output(["git", "-C", ROOT, "describe", "--always",
                             "--dirty"])
    nginx_version = command_output([nginx, "-v"]).rpartition("/")[2]
    wrk_version = command_output([wrk, "--version"]).split("\n")[0]
    wrk_version = (wrk_version.split()[1] if len(wrk_version.split()) > 1
                   else wrk_version)
    return {
        "iiswsgi": "%s (git %s, source %s)" % (
            dist("iiswsgi"), commit or "?", source_fingerprint()),
        "wfastcgi": dist("wfastcgi"),
        "flup": dist("flup"),
        "uWSGI": command_output([os.path.join(venv_bin, "uwsgi"),
                                 "--version"]) or dist("uWSGI"),
        "nginx": nginx_version,
        "wrk": wrk_version,
    }


def source_fingerprint() -> str:
    """A short digest of iiswsgi's source, to notice it changing mid-run
    (the checkout is installed editable and may be edited meanwhile)."""
    digest = hashlib.sha256()
    package = os.path.join(ROOT, "iiswsgi")
    for folder, dirs, files in sorted(os.walk(package)):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                digest.update(os.path.relpath(path, ROOT).encode())
                with open(path, "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()[:12]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, "?" if unknown."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"
