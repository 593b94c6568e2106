"""The system calls an IIS-mode request costs, counted by ``strace -c -f``:
one read and one write, nothing else (no allocation that goes to the
kernel, no poll)."""

import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

from tests.conftest import require
from tests.support.fcgi import Client, request
from iiswsgi.iis.variables import server_variables
from tests.support.iis import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="strace is Linux's")

_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$")


def _calls(summary):
    counts = {}
    for line in summary.splitlines():
        match = _ROW.match(line)
        if match and match.group(2) != "total":
            counts[match.group(2)] = int(match.group(1))
    return counts


APP = """
def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        body = b"got %d" % len(environ["wsgi.input"].read())
    else:
        body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]


def make(global_conf, **local_conf):
    return app
"""


def _traced(tmp_path, requests, body=b""):
    """{syscall: calls} of a whole gateway run serving ``requests``."""
    (tmp_path / "syscall_app.py").write_text(APP)
    out = tmp_path / ("strace-%d" % requests)
    parent, child = socket.socketpair()
    env = dict(os.environ, WSGI_HANDLER="syscall_app.app",
               WSGI_LOG=str(tmp_path / "log"),
               # glibc moves its mmap threshold up after the first large
               # free; fixed, as some systems have it, a 128 KiB
               # allocation per request shows as mmap/mremap/munmap.
               MALLOC_MMAP_THRESHOLD_="131072",
               PYTHONPATH=os.pathsep.join([ROOT, str(tmp_path)]))
    process = subprocess.Popen(
        [shutil.which("strace"), "-f", "-c", "-o", str(out),
         sys.executable, "-m", "iiswsgi"], stdin=child, env=env,
        cwd=str(tmp_path), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    child.close()
    try:
        client = Client(parent)
        # Every server variable IIS sends (most of them empty).
        params = server_variables(
            "/", "/", str(tmp_path), method="POST" if body else "GET",
            content_length=len(body), complete=True)
        data = request(1, params, body)
        for _ in range(requests):
            client.send(data)
            assert client.read_response(1).status == 200
    finally:
        parent.close()
        process.wait(60)
    return _calls(out.read_text())


@pytest.mark.parametrize("body", [b"", b"x" * 5000])
def test_a_request_costs_one_read_and_one_write(tmp_path, body):
    require(shutil.which("strace"), "strace is not installed")
    few, many = 50, 450
    low = _traced(tmp_path, few, body)
    high = _traced(tmp_path, many, body)
    extra = {call: (high.get(call, 0) - low.get(call, 0)) / (many - few)
             for call in set(low) | set(high)}
    per_request = {call: round(n, 2) for call, n in extra.items()
                   if n >= 0.05}
    assert per_request == {"read": 1.0, "write": 1.0}


def _traced_listener(tmp_path, requests):
    """{syscall: calls} of ``iiswsgi serve`` on a Unix socket serving
    ``requests`` on one kept connection, then stopped by SIGTERM."""
    import signal
    import time
    (tmp_path / "syscall_app.py").write_text(APP)
    path = tmp_path / "gw.sock"
    if path.exists():
        path.unlink()
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = call:syscall_app:make\n[server:main]\n"
                   "use = egg:iiswsgi#iis\nsocket = %s\n" % path)
    out = tmp_path / ("strace-listen-%d" % requests)
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join([ROOT, str(tmp_path)]))
    process = subprocess.Popen(
        [shutil.which("strace"), "-f", "-c", "-o", str(out),
         sys.executable, "-m", "iiswsgi.cli", "serve", str(ini),
         "--log-file", str(tmp_path / "log")], env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not path.exists():
            assert time.monotonic() < deadline, "the socket never came"
            time.sleep(0.05)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(path))
        client = Client(sock)
        params = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "",
                  "PATH_INFO": "/", "SERVER_NAME": "localhost",
                  "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1"}
        for _ in range(requests):
            assert client.request(params).status == 200
        sock.close()
    finally:
        # SIGTERM to the server (strace's child), which stops; then strace
        # writes its summary and exits.
        with open("/proc/%d/task/%d/children" % (process.pid, process.pid)
                  ) as f:
            children = [int(pid) for pid in f.read().split()]
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        try:
            process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    return _calls(out.read_text())


def test_a_kept_connection_costs_a_poll_a_recv_and_a_send(tmp_path):
    """Listening: the worker waits a moment on the connection for its next
    request (one poll), reads it and answers it; no poll before every recv
    and send, as a Python socket timeout would make."""
    require(shutil.which("strace"), "strace is not installed")
    few, many = 50, 450
    low = _traced_listener(tmp_path, few)
    high = _traced_listener(tmp_path, many)
    per_request = {}
    for call in set(low) | set(high):
        n = (high.get(call, 0) - low.get(call, 0)) / (many - few)
        if n >= 0.05:
            per_request[call] = round(n, 2)
    # futex: the GIL passing between the selector thread and the worker,
    # as often as the scheduler makes it (a load-dependent fraction).
    per_request.pop("futex", None)
    assert per_request == {"poll": 1.0, "recvfrom": 1.0, "sendto": 1.0}
