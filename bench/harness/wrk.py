"""One wrk run against 127.0.0.1, and the figures read from its report."""

import re
import subprocess
from typing import Dict, Optional

from harness import REQUEST_PATH, BenchError

_RATE = re.compile(r"Requests/sec:\s*([0-9.]+)")
_LATENCY = re.compile(r"^\s*(50|99)%\s+([0-9.]+)(us|ms|s)\s*$", re.M)
_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_UNITS = {"us": 1.0, "ms": 1000.0, "s": 1e6}


def parse_report(out: str) -> Optional[Dict[str, object]]:
    """requests/s, p50 and p99 in µs, and errors (socket errors plus
    non-2xx/3xx answers) from ``wrk --latency``'s output; None without a
    Requests/sec line."""
    rate = _RATE.search(out)
    if rate is None:
        return None
    latency = {pct: float(value) * _UNITS[unit]
               for pct, value, unit in _LATENCY.findall(out)}
    socket_errors = _ERRORS.search(out)
    errors = (sum(int(n) for n in socket_errors.groups())
              if socket_errors else 0)
    non2xx = _NON2XX.search(out)
    return {"rps": float(rate.group(1)),
            "p50_us": latency.get("50"), "p99_us": latency.get("99"),
            "errors": errors + (int(non2xx.group(1)) if non2xx else 0)}


def run_wrk(wrk: str, port: int, connections: int,
            seconds: int) -> Dict[str, object]:
    """``wrk -t1 -cN -dSs --latency`` of the hello page on ``port``."""
    argv = [wrk, "-t1", "-c%d" % connections, "-d%ds" % seconds,
            "--timeout", "5s", "--latency",
            "http://127.0.0.1:%d%s" % (port, REQUEST_PATH)]
    done = subprocess.run(argv, capture_output=True, text=True,
                          timeout=seconds + 30)
    figures = parse_report(done.stdout)
    if done.returncode != 0 or figures is None:
        raise BenchError("wrk failed (%d): %s%s" % (done.returncode,
                                                    done.stdout,
                                                    done.stderr))
    return figures
