"""nginx + wrk: nginx in front of each contender's Unix-socket FastCGI
backend (keep-alive connections), loaded by wrk with 1 and 4
connections."""

import os
import signal
import subprocess
import tempfile
from typing import Callable, Dict, List, Optional, Tuple

from harness import BENCH, BenchError, Run
from harness.nginx import http_check, start_nginx
from harness.processes import (child_env, ensure_running, rss_kib,
                               start_process, stop_process, tail,
                               wait_until)
from harness.rounds import alternate
from harness.sockets import unix_accepts
from harness.stats import median, ratios, spread
from harness.wrk import run_wrk

NAME = "nginx"
TOOLS = ("nginx", "wrk")  # what it needs installed (bench/run does it)
CONNECTIONS = (1, 4)      # one wrk measurement for each
# (mine, other): the ratios reported, in this order.  The two-process
# contenders compare iiswsgi's workers option with uWSGI's processes.
COMPARED = (("iiswsgi", "flup"), ("iiswsgi", "uwsgi"),
            ("iiswsgi-w2", "uwsgi-p2"))
#: Processes of the multi-process contenders.
PROCESSES = 2
METRICS = ("rps", "p50_us", "p99_us", "cpu_us")


def contenders(python: str, venv_bin: str
               ) -> List[Tuple[str, Callable[[str], List[str]]]]:
    """(name, argv for a socket path) of each backend, in the report's
    order."""
    ini = os.path.join(BENCH, "hello.ini")

    def iiswsgi(workers):
        return lambda sock: [os.path.join(venv_bin, "iiswsgi"), "serve", ini,
                             "--socket", sock, "--workers", str(workers)]

    def uwsgi(processes):
        return lambda sock: [
            os.path.join(venv_bin, "uwsgi"), "--fastcgi-socket", sock,
            "--wsgi-file", os.path.join(BENCH, "bench_apps.py"),
            "--callable", "hello", "--processes", str(processes),
            "--threads", "1", "--need-app", "--disable-logging",
            "--die-on-term", "--pythonpath", BENCH]
    return [
        ("iiswsgi", iiswsgi(1)),
        ("flup", lambda sock: [
            python, os.path.join(BENCH, "flup_server.py"), sock]),
        ("uwsgi", uwsgi(1)),
        ("iiswsgi-w%d" % PROCESSES, iiswsgi(PROCESSES)),
        ("uwsgi-p%d" % PROCESSES, uwsgi(PROCESSES)),
    ]


def _family(pid: int) -> List[int]:
    """``pid`` and its descendants, now (from /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir("/proc/%d/task" % current):
                with open("/proc/%d/task/%s/children" % (current, task)) as f:
                    todo.extend(int(child) for child in f.read().split())
        except OSError:
            continue
    return found


def cpu_seconds(pid: int) -> Optional[float]:
    """User and system CPU seconds used so far by ``pid`` and the
    processes under it (a multi-process backend's workers); None where
    /proc cannot tell."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    try:
        for member in _family(pid):
            try:
                with open("/proc/%d/stat" % member) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime and stime: fields 14 and 15 of stat(5), counted from
            # the state (field 3), the first after the command's ")".
            total += int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None
    return total / ticks


def settings(run: Run) -> str:
    return ("nginx %d rounds x wrk -t1 %s, %d s each (after %d s warm-up)"
            % (run.rounds, " and ".join("-c%d" % c for c in CONNECTIONS),
               run.seconds, run.wrk_warmup))


def measure_contender(name: str, make_argv: Callable[[str], List[str]],
                      nginx: str, wrk: str, connections, seconds: int,
                      warmup: int, scratch: str) -> Dict[str, object]:
    """Start the backend and nginx in front of it, check an answer, then
    one wrk run per number of ``connections``; also the backend's RSS."""
    directory = tempfile.mkdtemp(prefix="nginx-%s-" % name, dir=scratch)
    sock = os.path.join(directory, "backend.sock")
    errors = os.path.join(directory, "backend.stderr")
    env = child_env()
    argv = make_argv(sock)
    if name.startswith("iiswsgi"):
        argv += ["--log-file", os.path.join(directory, "iiswsgi.log")]
    backend = web = None
    try:
        with open(errors, "ab") as stderr:
            backend = start_process(argv, stdin=subprocess.DEVNULL,
                                    stdout=stderr, stderr=stderr,
                                    cwd=directory, env=env)
        wait_until(lambda: unix_accepts(sock) or backend.poll() is not None,
                   20, "%s to listen on %s" % (name, sock))
        ensure_running(backend)
        web, port = start_nginx(nginx, directory, sock)
        http_check(port)
        http_check(port)
        if warmup:
            run_wrk(wrk, port, max(connections), warmup)
        results = {}
        for count in connections:
            before = cpu_seconds(backend.pid)
            figures = run_wrk(wrk, port, count, seconds)
            after = cpu_seconds(backend.pid)
            # The backend's own CPU per request: what load changes least
            # (the other programs on the machine take wall time, not
            # this), and where a gateway's waste shows.
            served = figures["rps"] * seconds
            figures["cpu_us"] = (
                (after - before) / served * 1e6
                if before is not None and after is not None and served
                else None)
            results["c%d" % count] = figures
        ensure_running(backend)
        results["rss_kib"] = rss_kib(backend.pid)
        return results
    except (BenchError, OSError, subprocess.SubprocessError) as error:
        raise BenchError("%s behind nginx: %s\n-- backend:\n%s-- nginx:\n%s"
                         % (name, error, tail(errors), tail(os.path.join(
                             directory, "error.log")))) from None
    finally:
        if web is not None:
            stop_process(web, signal.SIGQUIT)
        if backend is not None:
            stop_process(backend)  # uWSGI has --die-on-term


def _announce(rounds: int):
    def announce(index, name, figures):
        print("nginx round %d/%d %-9s " % (index + 1, rounds, name)
              + "  ".join("%s %8.0f req/s%s" % (
                  key, value["rps"], " (%d errors)" % value["errors"]
                  if value["errors"] else "")
                  for key, value in figures.items() if key != "rss_kib"),
              flush=True)
    return announce


def measure(run: Run) -> Dict[str, List[Dict[str, object]]]:
    """Every backend's figures, one per round."""
    return alternate(
        contenders(run.python, run.venv_bin), run.rounds,
        lambda name, make_argv: measure_contender(
            name, make_argv, run.nginx, run.wrk, CONNECTIONS, run.seconds,
            run.wrk_warmup, run.scratch),
        _announce(run.rounds))


def summarize(results: Dict[str, List[dict]]) -> Dict[str, dict]:
    """Per backend and number of connections: the median of each metric
    over rounds, the errors of all rounds, the lowest and highest
    requests/s; and the median RSS."""
    summary = {}
    for name, rounds in results.items():
        entry = {}
        for key in rounds[0]:
            if key == "rss_kib":
                entry[key] = median([r[key] for r in rounds])
                continue
            entry[key] = {metric: median([r[key].get(metric)
                                          for r in rounds])
                          for metric in METRICS}
            entry[key]["errors"] = sum(r[key]["errors"] for r in rounds)
            entry[key]["rps_range"] = spread([r[key]["rps"] for r in rounds])
        summary[name] = entry
    return summary


def comparisons(summary: Dict[str, dict]
                ) -> List[Tuple[str, Optional[float], Optional[float],
                                Optional[float]]]:
    """(label, throughput ratio, p50 ratio, p99 ratio) of each pair of
    COMPARED, per number of connections; then iiswsgi's 4 connections
    against its 1 (more connections must not serve fewer requests)."""
    rows = []
    for name, other in COMPARED:
        mine, theirs = summary.get(name), summary.get(other)
        if mine and theirs:
            for key in mine:
                if key == "rss_kib" or key not in theirs:
                    continue
                rows.append(("nginx %s conn.: %s / %s"
                             % (key[1:], name, other),)
                            + ratios(mine[key], theirs[key]))
    for name in ("iiswsgi", "iiswsgi-w%d" % PROCESSES):
        mine = summary.get(name)
        if mine and "c1" in mine and "c4" in mine:
            rows.append(("nginx: %s 4 conn. / 1 conn." % name,)
                        + ratios(mine["c4"], mine["c1"]))
    return rows
