"""System calls per IIS-mode request, counted by ``strace -c -f``.

The gateway runs on the pipe under strace twice, once serving ``base``
requests and once ``base + count``; the difference of the two counts, per
call and divided by ``count``, is what one request costs (start-up and
exit cancel out).  The figures do not depend on the machine's load.
"""

import os
import re
import tempfile
from typing import Dict, List

from harness import BenchError
from harness.pipe import checked_exchange, gateway_on_pipe, iis_request, \
    sequential
from harness.processes import child_env, tail

_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$")


def parse_strace_summary(text: str) -> Dict[str, int]:
    """``strace -c``'s table as {syscall: calls}."""
    counts = {}
    for line in text.splitlines():
        match = _ROW.match(line)
        if match and match.group(2) != "total":
            counts[match.group(2)] = int(match.group(1))
    return counts


def _counted(strace: str, argv: List[str], requests: int, scratch: str,
             name: str) -> Dict[str, int]:
    app_dir = tempfile.mkdtemp(prefix="app-", dir=scratch)
    summary = os.path.join(scratch, "%s-%d.strace" % (name, requests))
    errors = os.path.join(scratch, "%s-strace.stderr" % name)
    env = child_env(WSGI_HANDLER="bench_apps.hello",
                    WSGI_LOG=os.path.join(scratch, "%s-strace.log" % name))
    traced = [strace, "-f", "-c", "-o", summary] + argv
    with open(errors, "ab") as stderr, \
            gateway_on_pipe(traced, app_dir, env, stderr, 10) as (_, parent):
        try:
            parent.settimeout(30)
            request = iis_request(app_dir)
            expected = checked_exchange(parent, request)
            sequential(parent, request, expected, requests)
        except (BenchError, OSError) as error:
            raise BenchError("%s under strace: %s\n-- stderr:\n%s" % (
                name, error, tail(errors))) from None
    # strace writes its summary once the traced process has exited.
    try:
        with open(summary, encoding="utf-8") as f:
            return parse_strace_summary(f.read())
    except OSError as error:
        raise BenchError("strace left no summary for %s: %s" % (name, error))


def per_request(strace: str, argv: List[str], scratch: str, name: str,
                base: int = 200, count: int = 2000) -> Dict[str, float]:
    """{syscall: calls per request} for ``argv`` on the IIS pipe, and
    ``"total"``; calls under 0.05 per request are left out."""
    low = _counted(strace, argv, base, scratch, name)
    high = _counted(strace, argv, base + count, scratch, name)
    figures = {}
    for call in sorted(set(low) | set(high)):
        value = (high.get(call, 0) - low.get(call, 0)) / count
        if value >= 0.05:
            figures[call] = round(value, 2)
    figures["total"] = round(sum(figures.values()), 2)
    return figures
