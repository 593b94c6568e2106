"""A big site: the restart watcher over 10,000 .py files (most of them in
a virtual environment inside the site folder, as happens when a venv is
made next to the code) against a small site, in IIS mode (a socketpair as
standard input, the default restart regex).  Per-request p50/p99 latency
as the driver sees them: a scan on the request path, or one that holds
the GIL while a request waits, shows in the p99.

Not part of ``bench/run``'s report; run it alone from bench/:
``python -m scenarios.big_site [--requests N]`` (a smoke run:
``--requests 2000``)."""

import argparse
import os
import sys
import tempfile
from typing import Dict

from harness import WORK
from harness.pipe import (checked_exchange, gateway_on_pipe, iis_request,
                          sequential)
from harness.processes import child_env, ensure_running, tail
from harness.stats import percentile

NAME = "big_site"


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


def measure_site(files: int, requests: int, scratch: str
                 ) -> Dict[str, float]:
    app_dir = make_site(tempfile.mkdtemp(prefix="site-", dir=scratch), files)
    log = os.path.join(scratch, "big-site-%d.log" % files)
    errors = os.path.join(scratch, "big-site-%d.stderr" % files)
    env = child_env(WSGI_HANDLER="bench_apps.hello", WSGI_LOG=log)
    with open(errors, "ab") as stderr, gateway_on_pipe(
            [sys.executable, "-m", "iiswsgi"], app_dir, env, stderr, 5) as (
            process, parent):
        parent.settimeout(30)
        request = iis_request(app_dir)
        expected = checked_exchange(parent, request)
        checked_exchange(parent, request)
        parent.settimeout(10)
        latencies, elapsed, _ = sequential(parent, request, expected,
                                           requests)
        ensure_running(process)
    latencies = sorted(latencies)
    return {"files": files, "rps": requests / elapsed,
            "p50_us": percentile(latencies, 50) / 1000.0,
            "p99_us": percentile(latencies, 99) / 1000.0,
            "max_us": latencies[-1] / 1000.0, "log": tail(log, 3)}


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
