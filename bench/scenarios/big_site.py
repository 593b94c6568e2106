"""A big site: the restart watcher over 10,000 .py files (most of them in
a virtual environment inside the site folder, as happens when a venv is
made next to the code) against a small site of 10, in IIS mode (a
socketpair as standard input, the default restart regex).  In each round
both gateways are started and the timed requests go to them in
alternating slices (CHUNK requests to one, then to the other, the first
one's turn rotating over the rounds), so a burst of load from elsewhere
on the machine falls on both alike; the ratio is the median over rounds
of each round's big / small.  Per-request p50/p99 latency as the driver
sees them: a scan on the request path, or one that holds the GIL while a
request waits, shows in the big site's p99.  The target: the big site's
p99 at most 1.1x the small site's.

``bench/run --only big_site``; alone, from bench/:
``python -m scenarios.big_site [--requests N]``."""

import argparse
import contextlib
import os
import sys
import tempfile
from typing import Dict, List, Optional, Tuple

from harness import WORK, BenchError, Run
from harness.pipe import (checked_exchange, gateway_on_pipe, iis_request,
                          sequential)
from harness.processes import child_env, ensure_running, tail
from harness.rounds import rotated
from harness.stats import median, percentile, ratio, spread

NAME = "big_site"
SMALL, BIG = "small site", "big site"
METRICS = ("rps", "p50_us", "p99_us", "max_us")
#: Timed requests to one site before the other's turn.
CHUNK = 100


def sizes(quick: bool) -> List[Tuple[str, int]]:
    """(name, .py files) of the two sites."""
    return [(SMALL, 10), (BIG, 10000)]


def settings(run: Run) -> str:
    return ("big site: %s .py files against %s, %d rounds x %d timed"
            " requests (after %d warm-up)"
            % (sizes(run.quick)[1][1], sizes(run.quick)[0][1], run.rounds,
               run.requests, run.warmup))


def make_site(root: str, files: int) -> str:
    """A site folder with ``files`` .py files: a tenth in the site's own
    packages, the rest in ``venv/`` (with pyvenv.cfg)."""
    own = max(1, files // 10)
    for n in range(own):
        folder = os.path.join(root, "pkg%02d" % (n % 50))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "m%05d.py" % n), "w") as f:
            f.write("x = %d\n" % n)
    if files > own:
        venv = os.path.join(root, "venv")
        os.makedirs(venv, exist_ok=True)
        with open(os.path.join(venv, "pyvenv.cfg"), "w") as f:
            f.write("home = /usr/bin\n")
        for n in range(files - own):
            folder = os.path.join(venv, "lib", "site-packages",
                                  "dep%03d" % (n % 300))
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "m%05d.py" % n), "w") as f:
                f.write("y = %d\n" % n)
    return root


def measure_site(files: int, requests: int, scratch: str,
                 warmup: int = 0, app_dir: Optional[str] = None
                 ) -> Dict[str, object]:
    """Start the gateway on a site of ``files`` .py files (``app_dir``, or
    a new one), ``warmup`` requests, then ``requests`` timed ones."""
    if app_dir is None:
        app_dir = make_site(tempfile.mkdtemp(prefix="site-", dir=scratch),
                            files)
    log = os.path.join(scratch, "big-site-%d.log" % files)
    errors = os.path.join(scratch, "big-site-%d.stderr" % files)
    if os.path.exists(log):
        os.remove(log)      # this round's log only: its watcher line
    env = child_env(WSGI_HANDLER="bench_apps.hello", WSGI_LOG=log)
    with open(errors, "ab") as stderr, gateway_on_pipe(
            [sys.executable, "-m", "iiswsgi"], app_dir, env, stderr, 5) as (
            process, parent):
        try:
            parent.settimeout(30)
            request = iis_request(app_dir)
            expected = checked_exchange(parent, request)
            checked_exchange(parent, request)
            parent.settimeout(10)
            if warmup:
                sequential(parent, request, expected, warmup)
            latencies, elapsed, _ = sequential(parent, request, expected,
                                               requests)
            ensure_running(process)
        except (BenchError, OSError) as error:
            raise BenchError("big site (%d files): %s\n-- stderr:\n%s"
                             "-- log:\n%s" % (files, error, tail(errors),
                                              tail(log))) from None
    latencies = sorted(latencies)
    return {"files": files, "rps": requests / elapsed,
            "p50_us": percentile(latencies, 50) / 1000.0,
            "p99_us": percentile(latencies, 99) / 1000.0,
            "max_us": latencies[-1] / 1000.0, "watcher": _watcher_line(log)}


def _watcher_line(log: str) -> str:
    """How the gateway watched (its "watching ..." log line's end)."""
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            for line in f:
                if "watching" in line and " by " in line:
                    return line.rsplit(" by ", 1)[1].strip().rstrip(")")
    except OSError:
        pass
    return "?"


def measure_pair(sites: List[Tuple[str, int, str]], requests: int,
                 warmup: int, scratch: str) -> Dict[str, Dict[str, object]]:
    """Both gateways at once, each on its site ((name, files, folder), in
    the order their slices come); ``warmup`` requests each, then
    ``requests`` timed ones each, CHUNK at a time in turn."""
    env_base = dict(WSGI_HANDLER="bench_apps.hello")
    with contextlib.ExitStack() as stack:
        live = []
        for name, files, app_dir in sites:
            log = os.path.join(scratch, "big-site-%d.log" % files)
            errors = os.path.join(scratch, "big-site-%d.stderr" % files)
            if os.path.exists(log):
                os.remove(log)      # this round's log only
            stderr = stack.enter_context(open(errors, "ab"))
            process, parent = stack.enter_context(gateway_on_pipe(
                [sys.executable, "-m", "iiswsgi"], app_dir,
                child_env(WSGI_LOG=log, **env_base), stderr, 5))
            live.append((name, files, process, parent, log, errors,
                         app_dir))
        figures = {}
        try:
            checked = []
            for _, _, _, parent, _, _, app_dir in live:
                parent.settimeout(30)
                request = iis_request(app_dir)
                expected = checked_exchange(parent, request)
                checked_exchange(parent, request)
                parent.settimeout(10)
                sequential(parent, request, expected, warmup)
                checked.append((request, expected))
            latencies = {name: [] for name, *_ in live}
            elapsed = dict.fromkeys(latencies, 0.0)
            left = requests
            while left > 0:
                count = min(CHUNK, left)
                for (name, _, _, parent, *_), (request, expected) in zip(
                        live, checked):
                    got, seconds, _ = sequential(parent, request, expected,
                                                 count)
                    latencies[name].extend(got)
                    elapsed[name] += seconds
                left -= count
            for name, files, process, _, log, _, _ in live:
                ensure_running(process)
                ordered = sorted(latencies[name])
                figures[name] = {
                    "files": files, "rps": requests / elapsed[name],
                    "p50_us": percentile(ordered, 50) / 1000.0,
                    "p99_us": percentile(ordered, 99) / 1000.0,
                    "max_us": ordered[-1] / 1000.0,
                    "watcher": _watcher_line(log)}
        except (BenchError, OSError) as error:
            raise BenchError("big site: %s\n%s" % (error, "".join(
                "-- %s stderr:\n%s-- log:\n%s" % (name, tail(errors),
                                                   tail(log))
                for name, _, _, _, log, errors, _ in live))) from None
    return figures


def measure(run: Run) -> Dict[str, List[Dict[str, object]]]:
    """Each site's figures, one per round; the sites are made once."""
    sites = []
    for name, files in sizes(run.quick):
        sites.append((name, (name, files, make_site(tempfile.mkdtemp(
            prefix="site-%d-" % files, dir=run.scratch), files))))
    os.sync()   # the new files' writeback now, not in the first round
    results: Dict[str, List[Dict[str, object]]] = {
        name: [] for name, _ in sites}
    for index in range(run.rounds):
        order = [site for _, site in rotated(sites, index)]
        figures = measure_pair(order, run.requests, run.warmup, run.scratch)
        for name, _, _ in order:
            results[name].append(figures[name])
            print("big site round %d/%d %-10s %5d files %8.0f req/s  p50"
                  " %6.1f us  p99 %7.1f us (%s)" % (
                      index + 1, run.rounds, name, figures[name]["files"],
                      figures[name]["rps"], figures[name]["p50_us"],
                      figures[name]["p99_us"], figures[name]["watcher"]),
                  flush=True)
    return {name: results[name] for name, _ in sites}


def summarize(results: Dict[str, List[dict]]) -> Dict[str, dict]:
    """Per site: the median of each metric over rounds, the lowest and
    highest p99, and how it was watched."""
    summary = {}
    for name, rounds in results.items():
        summary[name] = {metric: median([r[metric] for r in rounds])
                         for metric in METRICS}
        summary[name]["p99_range"] = spread([r["p99_us"] for r in rounds])
        summary[name]["files"] = rounds[0]["files"]
        summary[name]["watcher"] = rounds[-1]["watcher"]
        summary[name]["p99_rounds"] = [r["p99_us"] for r in rounds]
    return summary


def comparisons(summary: Dict[str, dict]
                ) -> List[Tuple[str, Optional[float], Optional[float],
                                Optional[float]]]:
    """(label, throughput ratio, p50 ratio, p99 ratio) of the big site
    over the small one (the target: p99 at most 1.1).  The sites are
    measured in pairs, so the p99 ratio is the median of the rounds'
    ratios (each round's two p99s come from the same moments)."""
    if BIG not in summary or SMALL not in summary:
        return []
    big, small = summary[BIG], summary[SMALL]
    pairs = [ratio(b, s) for b, s in zip(big.get("p99_rounds") or (),
                                         small.get("p99_rounds") or ())]
    pairs = [value for value in pairs if value is not None]
    p99 = median(pairs) if pairs else ratio(big["p99_us"], small["p99_us"])
    return [("big site / small site", ratio(big["rps"], small["rps"]),
             ratio(big["p50_us"], small["p50_us"]), p99)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--files", type=int, default=10000)
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="big-site-", dir=WORK)
    for files in (10, args.files):
        figures = measure_site(files, args.requests, scratch)
        print("%6d .py files: %7.0f req/s  p50 %7.1f us  p99 %7.1f us"
              "  max %8.1f us" % (files, figures["rps"], figures["p50_us"],
                                  figures["p99_us"], figures["max_us"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
