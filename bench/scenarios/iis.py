"""IIS mode: each contender started as IIS's FastCGI module starts it (a
socketpair as standard input, FCGI_KEEP_CONN set) and sent hello-world
requests one after another; requests/s and per-request latency as the
driver sees them."""

import os
import tempfile
from typing import Dict, List, Optional, Tuple

from harness import BENCH, BenchError, Run
from harness.facts import find_tool
from harness.pipe import (checked_exchange, gateway_on_pipe, iis_request,
                          sequential)
from harness.processes import child_env, ensure_running, rss_kib, tail
from harness.rounds import alternate
from harness.stats import median, percentile, ratios, spread
from harness.syscalls import per_request

NAME = "iis"
# iiswsgi's figures are compared with these, in this order.
COMPARED_WITH = ("wfastcgi", "minimal")
METRICS = ("rps", "p50_us", "p99_us", "rss_kib", "driver_cpu_us")


def contenders(python: str) -> List[Tuple[str, List[str]]]:
    """(name, argv) of each gateway, in the report's order."""
    return [
        ("iiswsgi", [python, "-m", "iiswsgi"]),
        ("wfastcgi", [python, os.path.join(BENCH, "wfastcgi_launcher.py")]),
        ("minimal", [python, os.path.join(BENCH, "minimal_responder.py")]),
    ]


def settings(run: Run) -> str:
    return ("IIS mode %d rounds x %d timed requests (after %d warm-up) per"
            " contender" % (run.rounds, run.requests, run.warmup))


def measure_contender(name: str, argv: List[str], requests: int,
                      warmup: int, scratch: str) -> Dict[str, object]:
    """Start ``argv`` as IIS would, check its answer, then time
    ``requests`` sequential keep-conn requests."""
    app_dir = tempfile.mkdtemp(prefix="app-", dir=scratch)  # stays empty
    log = os.path.join(scratch, "%s.log" % name)
    errors = os.path.join(scratch, "%s.stderr" % name)
    env = child_env(WSGI_HANDLER="bench_apps.hello", WSGI_LOG=log)
    with open(errors, "ab") as stderr, \
            gateway_on_pipe(argv, app_dir, env, stderr, 5) \
            as (process, parent):
        try:
            parent.settimeout(30)  # the first request imports the app
            request = iis_request(app_dir)
            for _ in range(2):  # the first answer, and one after it
                expected = checked_exchange(parent, request)
            parent.settimeout(10)
            sequential(parent, request, expected, warmup)
            latencies, elapsed, driver_cpu = sequential(parent, request,
                                                        expected, requests)
            rss = rss_kib(process.pid)
            ensure_running(process)
        except (BenchError, OSError) as error:
            raise BenchError("%s: %s\n-- stderr:\n%s-- log:\n%s" % (
                name, error, tail(errors), tail(log))) from None
    latencies = sorted(latencies)
    return {
        "requests": requests,
        "rps": requests / elapsed,
        "p50_us": percentile(latencies, 50) / 1000.0,
        "p99_us": percentile(latencies, 99) / 1000.0,
        "rss_kib": rss,
        "driver_cpu_us": driver_cpu / requests * 1e6,
    }


def _announce(rounds: int):
    def announce(index, name, figures):
        print("IIS   round %d/%d %-9s %8.0f req/s  p50 %6.1f us"
              "  p99 %6.1f us" % (index + 1, rounds, name, figures["rps"],
                                  figures["p50_us"], figures["p99_us"]),
              flush=True)
    return announce


def measure(run: Run) -> Dict[str, List[Dict[str, object]]]:
    """Every contender's figures, one per round."""
    return alternate(
        contenders(run.python), run.rounds,
        lambda name, argv: measure_contender(name, argv, run.requests,
                                             run.warmup, run.scratch),
        _announce(run.rounds))


#: The contenders whose system calls per request are counted.
TRACED = ("iiswsgi", "minimal")


def measure_syscalls(run: Run) -> Dict[str, Dict[str, float]]:
    """System calls per request (``strace -c -f``, see
    :mod:`harness.syscalls`) of iiswsgi and the minimal responder; empty
    without strace."""
    strace = find_tool("strace")
    if not strace:
        print("IIS   strace is not installed: no system call counts"
              " (apt-get install strace)", flush=True)
        return {}
    count = 500 if run.quick else 2000
    figures = {}
    for name, argv in contenders(run.python):
        if name in TRACED:
            figures[name] = per_request(strace, argv, run.scratch, name,
                                        base=100, count=count)
            print("IIS   system calls per request %-9s %s" % (name, ", ".join(
                "%s %g" % item for item in figures[name].items())),
                flush=True)
    return figures


def summarize(results: Dict[str, List[dict]]) -> Dict[str, dict]:
    """Per contender: the median of each metric over rounds, and the
    lowest and highest requests/s."""
    summary = {}
    for name, rounds in results.items():
        summary[name] = {metric: median([r[metric] for r in rounds])
                         for metric in METRICS}
        summary[name]["rps_range"] = spread([r["rps"] for r in rounds])
    return summary


def comparisons(summary: Dict[str, dict]
                ) -> List[Tuple[str, Optional[float], Optional[float],
                                Optional[float]]]:
    """(label, throughput ratio, p50 ratio, p99 ratio) of iiswsgi against
    each of COMPARED_WITH."""
    rows = []
    mine = summary.get("iiswsgi")
    for other in COMPARED_WITH:
        if mine and other in summary:
            rows.append(("IIS mode: iiswsgi / %s" % other,)
                        + ratios(mine, summary[other]))
    return rows
