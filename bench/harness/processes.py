"""The contenders' processes: each started as the leader of its own
process group and ended by that group's id, also on errors and signals."""

import os
import signal
import subprocess
import time
from typing import Callable, List, Optional

from harness import BENCH, BenchError

_started: List[subprocess.Popen] = []  # each the leader of its own group


def start_process(argv: List[str], **kw) -> subprocess.Popen:
    """``subprocess.Popen`` in a new session, remembered for
    :func:`stop_all`."""
    process = subprocess.Popen(argv, start_new_session=True, **kw)
    _started.append(process)
    return process


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM,
                 timeout: float = 5.0) -> None:
    """Signal the process group ``process`` leads; kill it if it lingers."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # Whatever is left of its group (nginx workers, flup threads' process).
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    if process in _started:
        _started.remove(process)


def stop_all() -> None:
    """Kill every process group still running."""
    for process in list(_started):
        stop_process(process, signal.SIGKILL, timeout=2.0)


def _on_signal(number, frame):
    stop_all()
    raise SystemExit(128 + number)


def stop_all_on_signals() -> None:
    """SIGTERM, SIGINT and SIGHUP end every contender, then the run."""
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, _on_signal)


def child_env(**extra: str) -> dict:
    """This environment with bench/ on PYTHONPATH (bench_apps), without
    the WSGI_* variables of the caller, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [BENCH] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                   if p])
    env.pop("WSGI_LOG", None)
    env.pop("WSGI_HANDLER", None)
    env.update(extra)
    return env


def ensure_running(process: subprocess.Popen) -> None:
    """Raise BenchError if ``process`` has exited."""
    if process.poll() is not None:
        raise BenchError("exited with status %s" % process.returncode)


def wait_for_exit(process: subprocess.Popen, timeout: float) -> None:
    """Give ``process`` ``timeout`` seconds to exit on its own, then end
    its group."""
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    stop_process(process)


def tail(path: str, lines: int = 15) -> str:
    """The last ``lines`` lines of a log, or "" if it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def proc_status_kib(pid: int, field: str) -> int:
    """A KiB figure (VmRSS, VmHWM) from /proc/PID/status."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError as error:
        raise BenchError("no %s for process %d: %s" % (field, pid, error)) \
            from None
    raise BenchError("no %s for process %d" % (field, pid))


def rss_kib(pid: int) -> Optional[int]:
    """VmRSS of ``pid`` in KiB, None if it is not to be had."""
    try:
        return proc_status_kib(pid, "VmRSS")
    except BenchError:
        return None


def wait_until(predicate: Callable[[], bool], timeout: float,
               what: str) -> None:
    """Poll ``predicate`` every 50 ms for ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise BenchError("timed out after %gs waiting for %s" % (timeout, what))
