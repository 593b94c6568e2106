"""Soak tests: one gateway process under a long run of requests.

Skipped unless SOAK=1 (and marked ``slow``).  SOAK_REQUESTS (default
1,000,000) sets the IIS-pipe run; SOAK_SECONDS (default 60) and
SOAK_CONNECTIONS (default 64) the run behind nginx.  Figures and commands
of a recorded run: tests/reliability/README.md.
"""

import http.client
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

from iiswsgi.protocol import fastcgi
from tests.conftest import soak_only
from tests.support import fcgi
from tests.support.iis import Gateway, iis_params

pytestmark = [
    pytest.mark.slow,
    soak_only,              # the one skip CI allows (tests/conftest.py)
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc"),
]

REQUESTS = int(os.environ.get("SOAK_REQUESTS", "1000000"))
SECONDS = int(os.environ.get("SOAK_SECONDS", "60"))
CONNECTIONS = int(os.environ.get("SOAK_CONNECTIONS", "64"))
#: Allowed RSS growth between the 10% sample and the end.
RSS_SLACK_KIB = 4 * 1024

def process_sample(pid):
    """(VmRSS KiB, VmHWM KiB, open descriptors) of a process."""
    values = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1])
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return values["VmRSS"], values["VmHWM"], fds


def exchange(client, data, rid):
    """Send one request on ``client`` (a tests.support.fcgi.Client) and
    read its events to FCGI_END_REQUEST: what it wrote to FCGI_STDOUT.
    Every record must be the request's, and its protocol status 0.  (Not
    client.read_response, which keeps every record and parses the head:
    a third slower, and a million requests are run.)"""
    client.send(data)
    stdout = []
    while True:
        event = client.next_event()
        assert getattr(event, "request_id", None) == rid, (event, rid)
        kind = type(event)
        if kind is fastcgi.Stdout:
            stdout.append(event.data)
        elif kind is fastcgi.EndRequest:
            assert event.protocol_status == 0, event
            return b"".join(stdout)


def test_soak_iis_pipe(tmp_path):
    """REQUESTS requests on one keep-conn pipe, mixed: GET (most), POST
    with a body, an application error, an abort.  RSS and descriptors are
    sampled every 10%; both must stay flat."""
    log = tmp_path / "iiswsgi.log"
    gw = Gateway(["-m", "iiswsgi"],
                 env={"WSGI_HANDLER": "sample_apps.router"},
                 cwd=str(tmp_path), log=log)
    try:
        client = fcgi.Client(gw.parent)
        body = b"p" * 3000
        get = [fcgi.request(rid, iis_params("/soak/%d" % rid, query="n=1"))
               for rid in (1, 2, 3)]
        post = fcgi.request(4, iis_params("/echo", method="POST", body=body),
                            body, chunk=1000)
        boom = fcgi.request(5, iis_params("/boom"))
        abort = fcgi.begin(6) + fcgi.record(fcgi.ABORT_REQUEST, 6)
        samples = []
        step = max(1, REQUESTS // 10)
        started = time.monotonic()
        for n in range(1, REQUESTS + 1):
            if n % 1000 == 0:
                assert exchange(client, boom, 5).startswith(b"Status: 500")
            elif n % 1000 == 500:
                assert exchange(client, abort, 6) == b""
            elif n % 10 == 0:
                out = exchange(client, post, 4)
                assert out.startswith(b"Status: 200")
                assert b'"size": 3000' in out
            else:
                rid = n % 3 + 1
                out = exchange(client, get[rid - 1], rid)
                assert out.startswith(b"Status: 200"), out[:200]
                if n % 997 == 0:
                    assert b'"PATH_INFO": "/soak/%d"' % rid in out
            if n % step == 0:
                samples.append((n, time.monotonic() - started)
                               + process_sample(gw.process.pid))
        elapsed = time.monotonic() - started
        assert gw.process.poll() is None
        report = ["soak iis-pipe: %d requests in %.1f s (%.0f req/s)"
                  % (REQUESTS, elapsed, REQUESTS / elapsed)]
        report += ["  %9d requests %7.1f s  RSS %6d KiB  HWM %6d KiB  fds %d"
                   % sample for sample in samples]
        print("\n".join(report))
        (tmp_path / "soak-report.txt").write_text("\n".join(report) + "\n")
        first, last = samples[0], samples[-1]
        assert last[2] - first[2] <= RSS_SLACK_KIB, report
        assert last[4] == first[4], report
        gw.close_pipe()
        assert gw.wait(20) == 0
    finally:
        gw.stop()


def _wrk(port):
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    result = subprocess.run(
        [wrk, "-t2", "-c%d" % CONNECTIONS, "-d%ds" % SECONDS, "--timeout",
         "10s", "http://127.0.0.1:%d/soak" % port],
        capture_output=True, text=True, timeout=SECONDS + 60)
    text = result.stdout + result.stderr
    done = re.search(r"(\d+) requests in", text)
    return {"tool": "wrk", "requests": int(done.group(1)) if done else 0,
            "errors": ("Non-2xx" in text) + ("Socket errors" in text),
            "output": text}


def _threads(port):
    """The same load with http.client in CONNECTIONS threads."""
    deadline = time.monotonic() + SECONDS
    counts = [0] * CONNECTIONS
    errors = []

    def worker(index):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            while time.monotonic() < deadline:
                conn.request("GET", "/soak")
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(response.status)
                    return
                counts[index] += 1
        except Exception as error:      # reported below, never hidden
            errors.append(repr(error))
        finally:
            conn.close()
    workers = [threading.Thread(target=worker, args=(n,))
               for n in range(CONNECTIONS)]
    for worker_thread in workers:
        worker_thread.start()
    for worker_thread in workers:
        worker_thread.join(SECONDS + 30)
    return {"tool": "threads", "requests": sum(counts),
            "errors": len(errors), "output": repr(errors[:10])}


def test_soak_behind_nginx(tmp_path):
    from tests.integration.peers_support import nginx_site, require_binary
    nginx = require_binary("nginx", "/usr/sbin/nginx")
    with nginx_site(nginx, tmp_path, "call:peer_apps:make_router",
                    server_options={"threads": 8}) as site:
        assert site.get("/warm").status == 200
        before = process_sample(site.gateway.pid)
        result = _wrk(site.port) or _threads(site.port)
        after = process_sample(site.gateway.pid)
        assert site.get("/after").status == 200
        with open(os.path.join(site.nginx.directory, "error.log")) as f:
            upstream_errors = [line for line in f
                               if "[error]" in line or "[crit]" in line]
    report = ("soak nginx (%s, %d connections, %d s): %d requests, %d errors;"
              " gateway RSS %d -> %d KiB, fds %d -> %d\n%s"
              % (result["tool"], CONNECTIONS, SECONDS, result["requests"],
                 result["errors"], before[0], after[0], before[2], after[2],
                 result["output"]))
    print(report)
    (tmp_path / "soak-nginx-report.txt").write_text(report)
    assert result["errors"] == 0, report
    assert result["requests"] > 0
    assert upstream_errors == [], upstream_errors[:5]
