"""``workers``: several processes sharing one listening socket, forked by
``iiswsgi serve`` and supervised by it (real processes, a real Unix
socket)."""

import os
import signal
import socket
import subprocess
import sys

import pytest

from iiswsgi.gateway.workers import WorkersUnsupported, check_workers
from tests.support.emulate import process_gone
from tests.support.fcgi import Client
from tests.support.iis import ROOT, wait_for

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX fork()")

PID_APP = '''
import os

def pid_app(environ, start_response):
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

def make(global_conf, **local):
    return pid_app
'''

PARAMS = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/",
          "SERVER_NAME": "localhost", "SERVER_PORT": "80",
          "SERVER_PROTOCOL": "HTTP/1.1"}


@pytest.fixture
def served(tmp_path):
    (tmp_path / "pidapp.py").write_text(PID_APP)
    sock = tmp_path / "gw.sock"
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = call:pidapp:make\n"
                   "[server:main]\nuse = egg:iiswsgi#iis\nsocket = %s\n"
                   "threads = 2\n" % sock)
    process = subprocess.Popen(
        [sys.executable, "-m", "iiswsgi.cli", "serve", str(ini),
         "--workers", "2", "--log-file", str(tmp_path / "log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(
            [ROOT, str(tmp_path)])))
    try:
        wait_for(sock.exists, what="the socket")
        yield process, str(sock), tmp_path / "log"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(20)


def _answering_pid(path, held):
    """The PID in the answer on a new connection to ``path`` (kept open
    in ``held``, so the next one is a new connection too)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    held.append(sock)
    response = Client(sock).request(PARAMS)
    assert response.status == 200, response.records
    return int(response.body)


def _pids_seen(path, wanted, held, timeout=30):
    """Connect (again and again, for up to ``timeout`` seconds) until
    ``wanted(pids)`` holds; the PIDs seen."""
    pids = set()

    def enough():
        pids.add(_answering_pid(path, held))
        if len(held) > 50:
            for sock in held:
                sock.close()
            held.clear()
        return wanted(pids)
    wait_for(enough, timeout=timeout, interval=0.01,
             what="PIDs answering other than %s" % sorted(pids))
    return pids


def test_two_workers_answer_one_is_replaced_sigterm_stops_all(served):
    process, path, log = served
    held = []
    try:
        # Both children answer on the one socket; the parent does not.
        pids = _pids_seen(path, lambda seen: len(seen) == 2, held)
        assert process.pid not in pids

        # A worker killed is replaced by a new process.
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: process_gone(victim), what="the killed worker")
        for sock in held:
            sock.close()
        held.clear()
        after = _pids_seen(path, lambda seen: bool(seen - pids) and len(
            seen - {victim}) == 2, held)
        assert victim not in after
        assert process.poll() is None
    finally:
        for sock in held:
            sock.close()

    # SIGTERM to the parent stops every process and removes the socket.
    survivors = after
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    for pid in survivors:
        assert process_gone(pid)
    assert not os.path.exists(path)
    text = log.read_text()
    assert "worker process %d exited (killed by SIGKILL); starting" \
        " another" % victim in text


def test_workers_need_fork(monkeypatch):
    check_workers(1)
    check_workers(4)
    monkeypatch.delattr(os, "fork")
    check_workers(1)
    with pytest.raises(WorkersUnsupported) as caught:
        check_workers(2)
    assert "workers = 2" in str(caught.value)
    assert "maxInstances" in str(caught.value)
