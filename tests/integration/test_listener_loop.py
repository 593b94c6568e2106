"""``threads = 1``: one thread serves every connection from one loop
(iiswsgi/gateway/listener.py's ``_Loop``), and is the default in each of
``--workers`` processes.  Real processes (`iiswsgi serve`), real Unix and
TCP sockets."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.support import fcgi
from tests.support.iis import ROOT, wait_for

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals,"
                                " Unix sockets and fork()")

APP = '''
import json
import os
import threading
import time


def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or 1))
    body = json.dumps({
        "pid": os.getpid(), "thread": threading.get_ident(),
        "path": environ["PATH_INFO"],
        "multithread": environ["wsgi.multithread"],
        "multiprocess": environ["wsgi.multiprocess"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def make(global_conf, **local):
    return app
'''


def _params(path, query=""):
    return {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path,
            "QUERY_STRING": query, "SERVER_NAME": "localhost",
            "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1"}


class Gateway:
    """`iiswsgi serve` of the app above, in its own session."""

    def __init__(self, tmp_path, options, args=(), env=None):
        (tmp_path / "loopapp.py").write_text(APP)
        self.log = tmp_path / "log"
        ini = tmp_path / "app.ini"
        ini.write_text("[app:main]\nuse = call:loopapp:make\n"
                       "[server:main]\nuse = egg:iiswsgi#iis\n"
                       + "".join("%s = %s\n" % item
                                 for item in options.items()))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "iiswsgi.cli", "serve", str(ini),
             "--log-file", str(self.log)] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                [ROOT, str(tmp_path)]), **(env or {})))

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(20)


@pytest.fixture
def unix_gateway(tmp_path):
    made = []

    def start(options=None, args=()):
        path = tmp_path / "gw.sock"
        gateway = Gateway(tmp_path, dict({"socket": path},
                                         **(options or {})), args)
        made.append(gateway)
        wait_for(path.exists, what="the socket")
        gateway.path = str(path)
        return gateway
    yield start
    for gateway in made:
        gateway.stop()


def _connect(path, timeout=30):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    return fcgi.Client(sock, timeout=timeout)


def _answer(client, path="/", query=""):
    response = client.request(_params(path, query))
    assert response.status == 200, response.records
    return json.loads(response.body)


def _tasks(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def test_one_thread_serves_several_kept_connections(unix_gateway):
    gateway = unix_gateway({"threads": 1})
    clients = [_connect(gateway.path) for _ in range(4)]
    try:
        seen = []
        # Interleaved: every connection stays open between its requests.
        for round_ in range(5):
            for client in clients:
                seen.append(_answer(client, "/r%d" % round_))
        # Four requests in flight at once, answered in any order.
        for number, client in enumerate(clients):
            client.send(fcgi.request(1, _params("/at-once-%d" % number)))
        at_once = [json.loads(client.read_response(1).body)
                   for client in clients]
    finally:
        for client in clients:
            client.sock.close()
    answers = seen + at_once
    assert len(answers) == 24
    assert {a["pid"] for a in answers} == {gateway.process.pid}
    assert len({a["thread"] for a in answers}) == 1
    assert not any(a["multithread"] for a in answers)
    assert [a["path"] for a in at_once] == ["/at-once-%d" % n
                                           for n in range(4)]
    if sys.platform.startswith("linux"):
        # No pool: the main thread is the only one.
        assert _tasks(gateway.process.pid) == 1


def test_a_slow_web_server_does_not_hold_up_the_others(unix_gateway):
    gateway = unix_gateway({"threads": 1})
    slow = _connect(gateway.path)
    other = _connect(gateway.path)
    try:
        whole = fcgi.request(1, _params("/late"))
        # The beginning and part of the parameters, then nothing for now.
        slow.send(whole[:30])
        time.sleep(0.2)
        started = time.monotonic()
        for _ in range(5):
            assert _answer(other, "/meanwhile")["path"] == "/meanwhile"
        assert time.monotonic() - started < 5
        # The rest comes: the late request is served where it stopped.
        slow.send(whole[30:])
        assert json.loads(slow.read_response(1).body)["path"] == "/late"
        # A request the application is running holds the one thread up:
        # the other connection's answer comes once it is done.
        slow.send(fcgi.request(1, _params("/slow", "1")))
        time.sleep(0.2)
        started = time.monotonic()
        assert _answer(other, "/after")["path"] == "/after"
        assert 0.5 < time.monotonic() - started < 10
        assert json.loads(slow.read_response(1).body)["path"] == "/slow"
    finally:
        slow.sock.close()
        other.sock.close()


def test_sigterm_while_connections_wait_stops_at_once(unix_gateway):
    gateway = unix_gateway({"threads": 1})
    clients = [_connect(gateway.path) for _ in range(3)]
    try:
        for client in clients:
            _answer(client)
        time.sleep(0.2)
        started = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        assert gateway.process.wait(10) == 0
        assert time.monotonic() - started < 5
        for client in clients:
            assert client.closed()
    finally:
        for client in clients:
            client.sock.close()
    assert not os.path.exists(gateway.path)
    assert "stopping: signal SIGTERM" in gateway.log.read_text()


def test_sigterm_during_a_request_lets_it_finish(unix_gateway):
    gateway = unix_gateway({"threads": 1})
    client = _connect(gateway.path)
    waiting = _connect(gateway.path)
    try:
        _answer(waiting)
        client.send(fcgi.request(1, _params("/slow", "1")))
        time.sleep(0.3)
        gateway.process.send_signal(signal.SIGTERM)
        response = client.read_response(1)
        assert response.status == 200
        assert json.loads(response.body)["path"] == "/slow"
        assert gateway.process.wait(10) == 0
        assert waiting.closed()
    finally:
        client.sock.close()
        waiting.sock.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="needs 127.0.0.2 as a source address")
def test_a_peer_not_in_fcgi_web_server_addrs_is_refused(tmp_path):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    gateway = Gateway(tmp_path, {"host": "127.0.0.1", "port": port,
                                 "threads": 1},
                      env={"FCGI_WEB_SERVER_ADDRS": "127.0.0.1"})
    try:
        def listening():
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False
        wait_for(listening, what="the gateway on port %d" % port)

        def client(source):
            sock = socket.socket()
            sock.bind((source, 0))
            sock.connect(("127.0.0.1", port))
            return fcgi.Client(sock, timeout=10)
        stranger = client("127.0.0.2")
        allowed = client("127.0.0.1")
        try:
            assert stranger.closed()
            assert _answer(allowed, "/ok")["path"] == "/ok"
        finally:
            stranger.sock.close()
            allowed.sock.close()
        wait_for(lambda: "not in FCGI_WEB_SERVER_ADDRS" in (
            gateway.log.read_text() if gateway.log.exists() else ""),
            what="the refusal in the log")
    finally:
        gateway.stop()


def test_two_workers_one_thread_each_both_serve(unix_gateway):
    gateway = unix_gateway(args=["--workers", "2"])
    held = []
    pids = set()
    try:
        def both():
            client = _connect(gateway.path)
            held.append(client)
            answer = _answer(client)
            assert not answer["multithread"] and answer["multiprocess"]
            pids.add(answer["pid"])
            return len(pids) == 2
        wait_for(both, timeout=30, interval=0.01,
                 what="both worker processes answering")
        assert gateway.process.pid not in pids
        if sys.platform.startswith("linux"):
            # The default in each worker: one thread, the loop.
            assert all(_tasks(pid) == 1 for pid in pids)
    finally:
        for client in held:
            client.sock.close()
    gateway.process.send_signal(signal.SIGTERM)
    assert gateway.process.wait(30) == 0


def test_two_workers_with_threads_flag(unix_gateway):
    gateway = unix_gateway(args=["--workers", "2", "--threads", "3"])
    client = _connect(gateway.path)
    try:
        answer = _answer(client)
        assert answer["multithread"] and answer["multiprocess"]
    finally:
        client.sock.close()
