"""bench/run's command line: parses the options, runs the benchmarks
chosen (bench/scenarios/), prints the report (bench/report.py), keeps the
raw figures in bench/.work/last-results.json and, unless told not to,
writes the report into bench/README.md.

Each benchmark runs in rounds that alternate the contenders (each round
starts every contender afresh, in a rotated order) and reports the median
over rounds and ratios computed within this one run.  Only loopback and
Unix sockets are used; every loop is bounded; every process started is
ended by its process group id, also on errors (bench/harness/).
"""

import argparse
import atexit
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from typing import List, Optional

import report
import scenarios
from harness import WORK, BenchError, Run
from harness.facts import find_tool, load_average, machine_facts, \
    source_fingerprint, versions
from harness.processes import stop_all, stop_all_on_signals


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run", description="Benchmark iiswsgi against wfastcgi,"
        " a minimal responder, flup and uWSGI.")
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run: 1 round, few requests,"
                             " 1 s of wrk; does not touch README.md")
    parser.add_argument("--rounds", type=int, help="rounds (default 5)")
    parser.add_argument("--requests", type=int,
                        help="timed IIS-mode requests per contender and"
                             " round (default 20000)")
    parser.add_argument("--seconds", type=int,
                        help="wrk duration per measurement (default 5)")
    parser.add_argument("--runs", type=int,
                        help="full runs, one after another (default 3;"
                             " --quick: 1);"
                             " the report shows the last run's tables and"
                             " the worst and best ratio over all runs")
    parser.add_argument("--only", choices=tuple(s.NAME for s in (
        scenarios.iis, scenarios.nginx, scenarios.memory, scenarios.package,
        scenarios.streaming, scenarios.coldstart, scenarios.big_site)),
                        help="run one of the benchmarks")
    parser.add_argument("--write-readme", dest="write_readme",
                        action="store_true", default=None,
                        help="rewrite README.md's results (default unless"
                             " --quick)")
    parser.add_argument("--no-write-readme", dest="write_readme",
                        action="store_false")
    args = parser.parse_args(argv)
    if args.quick:
        defaults = dict(rounds=1, requests=2000, seconds=1, warmup=200,
                        wrk_warmup=0, runs=1)
    else:
        defaults = dict(rounds=5, requests=20000, seconds=5, warmup=1000,
                        wrk_warmup=1, runs=3)
    for key in ("rounds", "requests", "seconds", "runs"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    args.warmup = defaults["warmup"]
    args.wrk_warmup = defaults["wrk_warmup"]
    if args.write_readme is None:
        args.write_readme = not args.quick
    if (args.rounds < 1 or args.requests < 1 or args.seconds < 1
            or args.runs < 1):
        parser.error("--rounds, --requests, --seconds and --runs must be"
                     " positive")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    atexit.register(stop_all)
    stop_all_on_signals()
    chosen = [s for s in scenarios.ALL if args.only in (None, s.NAME)]
    python = sys.executable
    venv_bin = os.path.dirname(python)
    nginx, wrk = find_tool("nginx"), find_tool("wrk")
    found = {"nginx": nginx, "wrk": wrk}
    if any(not found[tool] for s in chosen for tool in getattr(s, "TOOLS",
                                                                ())):
        print("bench: nginx and wrk are needed: apt-get install nginx-light"
              " wrk (bench/run does when apt-get is there)", file=sys.stderr)
        return 2
    os.makedirs(WORK, exist_ok=True)
    load_start = load_average()
    run = Run(python=python, venv_bin=venv_bin,
              scratch=tempfile.mkdtemp(prefix="run-", dir=WORK),
              quick=args.quick, rounds=args.rounds, requests=args.requests,
              warmup=args.warmup, seconds=args.seconds,
              wrk_warmup=args.wrk_warmup, nginx=nginx, wrk=wrk)
    started = time.monotonic()
    fingerprint = source_fingerprint()
    runs = []
    for number in range(args.runs):
        if args.runs > 1:
            print("bench: run %d of %d" % (number + 1, args.runs), flush=True)
        try:
            runs.append(_one_run(run, chosen))
        except BenchError as error:
            print("bench: FAILED: %s" % error, file=sys.stderr)
            return 1
        finally:
            stop_all()
    results = runs[-1]
    results["info"] = {
        "date": datetime.datetime.now().astimezone().strftime(
            "%Y-%m-%d %H:%M %Z"),
        "command": ("bench/run" + "".join(" " + a for a in argv)).strip(),
        "machine": machine_facts(),
        "versions": versions(nginx or "nginx", wrk or "wrk", venv_bin),
        "settings": "; ".join(s.settings(run) for s in chosen),
        "load_start": load_start,
        "runs": args.runs,
    }
    results["info"]["seconds"] = round(time.monotonic() - started)
    results["info"]["load_end"] = load_average()
    if source_fingerprint() != fingerprint:
        results["info"]["source_changed"] = True
        print("bench: WARNING: iiswsgi's source changed during the run",
              file=sys.stderr)
    summary = report.summarize(results)
    summaries = [report.summarize(r) for r in runs]
    markdown = report.report_markdown(results, summary, summaries)
    print()
    print(markdown)
    with open(os.path.join(WORK, "last-results.json"), "w") as f:
        json.dump({"results": results, "summary": summary,
                   "runs": runs}, f, indent=1)
    if args.write_readme:
        report.rewrite_readme(markdown)
        print("bench: wrote the results into %s" % report.README)
    shutil.rmtree(run.scratch, ignore_errors=True)
    print("bench: done in %d s" % results["info"]["seconds"])
    return 0


def _one_run(run: Run, chosen) -> dict:
    """Every benchmark chosen, once; their results by name (the IIS
    scenario's system call counts under "syscalls")."""
    results = {"iis": {}, "nginx": {}, "memory": {}, "package": {},
               "syscalls": {}, "streaming": {}, "coldstart": {},
               "big_site": {}}
    for scenario in chosen:
        results[scenario.NAME] = scenario.measure(run)
        if scenario is scenarios.iis:
            results["syscalls"] = scenarios.iis.measure_syscalls(run)
    return results


if __name__ == "__main__":
    sys.exit(main())
