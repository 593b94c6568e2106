"""Where a request's time goes, in figures that do not depend on the
machine's load: in IIS mode (the pipe), or with ``--socket`` in listening
mode (``iiswsgi serve --socket``, as behind nginx).

    bench/.work/venv/bin/python bench/perf_profile.py [--requests N] [CONTENDER]
    bench/.work/venv/bin/python bench/perf_profile.py --socket [--threads T]
        [--connections C] [--requests N]

* instructions per request: the contender on the pipe under
  ``valgrind --tool=callgrind``, once for ``base`` requests and once for
  ``base + N``; the difference of the two totals over N.
* system calls per request: the same with ``strace -c -f``.
* with ``--cprofile``: iiswsgi under cProfile for N requests, its 25
  functions of most own time (these figures are times, so load-dependent,
  but their shares are not much).

CONTENDER is ``iiswsgi`` (default) or ``minimal``.

With ``--socket``: ``iiswsgi serve`` of bench/hello.ini listening on a
Unix socket (with ``threads = T`` when given, else the default), driven
over ``C`` kept connections (default 1) with the parameters nginx sends
for wrk's GET (:func:`harness.nginx.nginx_sent_params`: the stock
``fastcgi_params``, PATH_INFO and HTTP_HOST, 20 in all), FCGI_KEEP_CONN
set.  With several connections a request is sent on each, then every
answer read, over and over: the gateway always has C requests at once,
as behind nginx under wrk -cC.  The server's ``max_requests`` ends it
once the requests are served, so it exits by itself (callgrind and
strace write their figures then).
"""

import argparse
import os
import pstats
import re
import selectors
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BENCH, BenchError  # noqa: E402
from harness.facts import find_tool  # noqa: E402
from harness.nginx import nginx_sent_params  # noqa: E402
from harness.pipe import (checked_exchange, gateway_on_pipe,  # noqa: E402
                          iis_request, sequential)
from harness.processes import (child_env, start_process,  # noqa: E402
                               stop_process, tail, wait_until)
from harness.sockets import unix_accepts  # noqa: E402
from harness.syscalls import parse_strace_summary, per_request  # noqa: E402
from iiswsgi.protocol import fastcgi  # noqa: E402

_TOTALS = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def _argv(name):
    if name == "minimal":
        return [sys.executable, os.path.join(BENCH, "minimal_responder.py")]
    return [sys.executable, "-m", "iiswsgi"]


def _serve(argv, requests, scratch, name):
    """Run ``argv`` on the pipe for ``requests`` requests (after the
    first, checked one), then close the pipe and let it exit."""
    app_dir = tempfile.mkdtemp(prefix="app-", dir=scratch)
    errors = os.path.join(scratch, "%s.stderr" % name)
    env = child_env(WSGI_HANDLER="bench_apps.hello",
                    WSGI_LOG=os.path.join(scratch, "%s.log" % name))
    with open(errors, "ab") as stderr, \
            gateway_on_pipe(argv, app_dir, env, stderr, 300) as (_, sock):
        try:
            sock.settimeout(300)
            request = iis_request(app_dir)
            expected = checked_exchange(sock, request)
            sequential(sock, request, expected, requests)
        except (BenchError, OSError) as error:
            raise BenchError("%s: %s\n%s" % (name, error, tail(errors)))


class Listening:
    """``iiswsgi serve`` on a Unix socket, driven over kept connections."""

    def __init__(self, threads=None, connections=1):
        self.threads = threads
        self.connections = connections
        self.name = "iiswsgi-socket"

    def serve(self, prefix, requests, scratch, python=None, warmup=0,
              measure=None):
        """Run ``prefix + python -m iiswsgi.cli serve ...`` until it has
        served the checked request, ``warmup`` and then ``requests`` more
        (its max_requests), then wait for it to exit.  With ``measure``
        (called with the server's pid), its results before and after the
        ``requests``."""
        directory = tempfile.mkdtemp(prefix="socket-", dir=scratch)
        path = os.path.join(directory, "gw.sock")
        ini = os.path.join(directory, "hello.ini")
        # One probe connection (unix_accepts) and the checked request
        # come before the timed ones: both runs have them alike.
        total = 1 + (warmup + requests) * self.connections
        with open(ini, "w") as f:
            f.write("[app:main]\nuse = call:bench_apps:make_hello\n"
                    "[server:main]\nuse = egg:iiswsgi#iis\n"
                    "max_requests = %d\n" % total)
            if self.threads is not None:
                f.write("threads = %d\n" % self.threads)
        argv = prefix + (python or [sys.executable]) + [
            "-m", "iiswsgi.cli", "serve", ini, "--socket", path,
            "--log-file", os.path.join(directory, "iiswsgi.log")]
        errors = os.path.join(directory, "stderr")
        with open(errors, "ab") as stderr:
            process = start_process(argv, stdin=subprocess.DEVNULL,
                                    stdout=stderr, stderr=stderr,
                                    cwd=directory, env=child_env())
        try:
            wait_until(lambda: unix_accepts(path)
                       or process.poll() is not None, 300,
                       "iiswsgi to listen on %s" % path)
            figures = self._drive(path, warmup, requests, measure and (
                lambda: measure(process.pid)))
            process.wait(300)
            return figures
        except (BenchError, OSError, subprocess.SubprocessError) as error:
            raise BenchError("%s: %s\n%s" % (self.name, error, tail(errors)))
        finally:
            stop_process(process)

    def _drive(self, path, warmup, requests, measure):
        request = fastcgi.ClientConnection().request(1, nginx_sent_params())
        socks = []
        try:
            for _ in range(self.connections):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                socks.append(sock)
                sock.settimeout(300)
                sock.connect(path)
            expected = checked_exchange(socks[0], request)
            figures = []
            for count in (warmup, requests):
                if measure is not None:
                    figures.append(measure())
                if self.connections == 1:
                    sequential(socks[0], request, expected, count)
                else:
                    _closed_loop(socks, request, expected, count)
            if measure is not None:
                figures.append(measure())
            return figures[1:]
        finally:
            for sock in socks:
                sock.close()

    def switches(self, scratch, count=2000):
        """Context switches and CPU µs per request, untraced (CPU time is
        the process's, so less load-dependent than wall time; switches
        count GIL handoffs and wake-ups)."""
        before, after = self.serve([], count, scratch, warmup=200,
                                   measure=_task_figures)
        per = count * self.connections
        return {name: round((after[name] - before[name]) / per, 2)
                for name in before}

    def syscalls(self, strace, scratch, base=200, count=2000):
        """{call: calls per request} and "total", as per_request's."""
        counts = []
        for requests in (base, base + count):
            summary = os.path.join(scratch, "strace-socket-%d" % requests)
            self.serve([strace, "-f", "-c", "-o", summary], requests,
                       scratch)
            with open(summary, encoding="utf-8") as f:
                counts.append(parse_strace_summary(f.read()))
        low, high = counts
        per = count * self.connections
        figures = {}
        for call in sorted(set(low) | set(high)):
            value = (high.get(call, 0) - low.get(call, 0)) / per
            if value >= 0.05:
                figures[call] = round(value, 2)
        figures["total"] = round(sum(figures.values()), 2)
        return figures


def _closed_loop(socks, request, expected, count):
    """``count`` requests on each of ``socks``, each sent once the last
    answer on its connection is in (as wrk does): the server always has
    that many requests at once, arriving as answers leave."""
    if not count:
        return
    size = len(expected)
    left = {sock: count for sock in socks}
    got = {sock: b"" for sock in socks}
    waiting = selectors.DefaultSelector()
    for sock in socks:
        sock.sendall(request)
        waiting.register(sock, selectors.EVENT_READ)
    try:
        while left:
            for key, _ in waiting.select(300):
                sock = key.fileobj
                data = sock.recv(65536)
                if not data:
                    raise BenchError("the gateway closed a connection")
                got[sock] += data
                if len(got[sock]) < size:
                    continue
                if got[sock] != expected:
                    raise BenchError("answer differs from the first one:"
                                     " %r" % got[sock][:300])
                got[sock] = b""
                left[sock] -= 1
                if left[sock]:
                    sock.sendall(request)
                else:
                    del left[sock]
                    waiting.unregister(sock)
    finally:
        waiting.close()


def _task_figures(pid):
    """{"cpu_us", "voluntary", "involuntary"} summed over ``pid``'s
    threads, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals = {"cpu_us": 0.0, "voluntary": 0, "involuntary": 0}
    tasks = "/proc/%d/task" % pid
    for task in os.listdir(tasks):
        try:
            with open(os.path.join(tasks, task, "stat")) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(os.path.join(tasks, task, "status")) as f:
                status = f.read()
        except OSError:
            continue
        totals["cpu_us"] += (int(fields[11]) + int(fields[12])) / ticks * 1e6
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                totals["voluntary"] += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                totals["involuntary"] += int(line.split()[1])
    return totals


def instructions(valgrind, name, scratch, base=200, count=2000,
                 listening=None):
    """Instructions (callgrind's Ir) per request."""
    totals = []
    for requests in (base, base + count):
        out = os.path.join(scratch, "callgrind.%s.%d" % (name, requests))
        prefix = [valgrind, "--tool=callgrind", "--callgrind-out-file=" + out]
        if listening is not None:
            # Every thread's instructions, in one file.
            listening.serve(prefix, requests, scratch)
        else:
            _serve(prefix + _argv(name), requests, scratch, name)
        with open(out, encoding="utf-8", errors="replace") as f:
            match = _TOTALS.search(f.read())
        if not match:
            raise BenchError("no totals in %s" % out)
        totals.append(int(match.group(1)))
    per = count * (listening.connections if listening is not None else 1)
    return (totals[1] - totals[0]) / per


def cprofile(scratch, requests, listening=None):
    out = os.path.join(scratch, "iiswsgi.prof")
    python = [sys.executable, "-m", "cProfile", "-o", out]
    if listening is not None:
        # cProfile sees the main thread only: with threads = 1 that is
        # the whole server.
        listening.serve([], requests, scratch, python=python)
    else:
        _serve(python + ["-m", "iiswsgi"], requests, scratch,
               "iiswsgi-cprofile")
    stats = pstats.Stats(out)
    stats.sort_stats("tottime").print_stats(25)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="bench/perf_profile.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("contender", nargs="?", default="iiswsgi",
                        choices=("iiswsgi", "minimal"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--socket", action="store_true",
                        help="listening mode: iiswsgi serve --socket")
    parser.add_argument("--threads", type=int, default=None,
                        help="with --socket: the server's threads option")
    parser.add_argument("--connections", type=int, default=1,
                        help="with --socket: kept connections driven")
    parser.add_argument("--no-callgrind", action="store_true")
    args = parser.parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="profile-")
    valgrind, strace = find_tool("valgrind"), find_tool("strace")
    if args.no_callgrind:
        valgrind = None
    if args.socket:
        listening = Listening(args.threads, args.connections)
        print("listening mode: threads %s, %d connection(s), nginx's %d"
              " parameters" % (args.threads or "default", args.connections,
                               len(nginx_sent_params())))
        print("untraced, per request:", listening.switches(
            scratch, count=max(args.requests, 20000)))
        if strace:
            print("system calls per request:", listening.syscalls(
                strace, scratch, count=args.requests))
        if valgrind:
            print("instructions per request: %.0f" % instructions(
                valgrind, "socket", scratch, count=args.requests,
                listening=listening))
        if args.cprofile:
            cprofile(scratch, args.requests * 5, listening)
        return 0
    if strace:
        print("system calls per request:", per_request(
            strace, _argv(args.contender), scratch, args.contender,
            count=args.requests))
    if valgrind:
        print("instructions per request: %.0f" % instructions(
            valgrind, args.contender, scratch, count=args.requests))
    else:
        print("valgrind is not installed: no instruction counts")
    if args.cprofile:
        cprofile(scratch, args.requests * 5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
