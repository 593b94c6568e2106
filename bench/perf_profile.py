"""Where an IIS-mode request's time goes, in figures that do not depend
on the machine's load.

    bench/.work/venv/bin/python bench/perf_profile.py [--requests N] [CONTENDER]

* instructions per request: the contender on the pipe under
  ``valgrind --tool=callgrind``, once for ``base`` requests and once for
  ``base + N``; the difference of the two totals over N.
* system calls per request: the same with ``strace -c -f``.
* with ``--cprofile``: iiswsgi under cProfile for N requests, its 25
  functions of most own time (these figures are times, so load-dependent,
  but their shares are not much).

CONTENDER is ``iiswsgi`` (default) or ``minimal``.
"""

import argparse
import os
import pstats
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BENCH, BenchError  # noqa: E402
from harness.facts import find_tool  # noqa: E402
from harness.pipe import (checked_exchange, gateway_on_pipe,  # noqa: E402
                          iis_request, sequential)
from harness.processes import child_env, tail  # noqa: E402
from harness.syscalls import per_request  # noqa: E402

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


def instructions(valgrind, name, scratch, base=200, count=2000):
    """Instructions (callgrind's Ir) per request."""
    totals = []
    for requests in (base, base + count):
        out = os.path.join(scratch, "callgrind.%s.%d" % (name, requests))
        _serve([valgrind, "--tool=callgrind", "--callgrind-out-file=" + out]
               + _argv(name), requests, scratch, name)
        with open(out, encoding="utf-8", errors="replace") as f:
            match = _TOTALS.search(f.read())
        if not match:
            raise BenchError("no totals in %s" % out)
        totals.append(int(match.group(1)))
    return (totals[1] - totals[0]) / count


def cprofile(scratch, requests):
    out = os.path.join(scratch, "iiswsgi.prof")
    _serve([sys.executable, "-m", "cProfile", "-o", out, "-m", "iiswsgi"],
           requests, scratch, "iiswsgi-cprofile")
    stats = pstats.Stats(out)
    stats.sort_stats("tottime").print_stats(25)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="bench/perf_profile.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("contender", nargs="?", default="iiswsgi",
                        choices=("iiswsgi", "minimal"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="profile-")
    valgrind, strace = find_tool("valgrind"), find_tool("strace")
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
