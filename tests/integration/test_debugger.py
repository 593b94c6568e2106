"""The remote debugger (WSGI_PTVSD_SECRET, WSGI_PTVSD_ADDRESS) with real
debugpy in the real gateway (`python -m iiswsgi`, started the IIS way):
only a client that proves the secret reaches it."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from iiswsgi.hosting.debugger import BANNER, connect_proof, forward

pytest.importorskip("debugpy")

SECRET = "dbg-Secret-7f3Kq9"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dap(command, seq=1, **arguments):
    body = json.dumps({"seq": seq, "type": "request", "command": command,
                       "arguments": arguments}).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


INITIALIZE = dap("initialize", clientID="test", adapterID="debugpy")


def read_all(sock, timeout=5.0):
    """Everything the peer sends until it closes (or ``timeout``)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def read_response(sock, timeout=20.0):
    """The first DAP response (events before it are skipped)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, "closed before a DAP response: %r" % data
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        length = int(head.split(b":")[1])
        while len(data) < length:
            chunk = sock.recv(65536)
            assert chunk, "closed in a DAP message"
            data += chunk
        message, data = json.loads(data[:length]), data[length:]
        if message["type"] == "response":
            return message


def banner(sock):
    sock.settimeout(10)
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(256)
        assert chunk, line
        line += chunk
    assert line.startswith(BANNER), line
    return line[len(BANNER):].strip().decode()


@pytest.fixture
def debugged(site):
    port = free_port()
    gw = site(WSGI_HANDLER="sample_apps.router", WSGI_PTVSD_SECRET=SECRET,
              WSGI_PTVSD_ADDRESS="127.0.0.1:%d" % port)
    assert gw.client.request(site.params()).status == 200
    gw.port = port
    return gw


def still_serving(gw, site, rid):
    started = time.monotonic()
    assert gw.client.request(site.params(), rid=rid).status == 200
    return time.monotonic() - started


def test_a_client_without_the_secret_gets_nothing(debugged, site):
    with socket.create_connection(("127.0.0.1", debugged.port)) as sock:
        banner(sock)
        # What a debugger that does not know the relay sends: DAP at once,
        # then pause everything.
        sock.sendall(INITIALIZE + dap("attach", 2) + dap("pause", 3,
                                                          threadId=0))
        data, closed = read_all(sock)
    assert closed and data == b""
    assert still_serving(debugged, site, 2) < 5
    log = debugged.log_text()
    assert "refused a debugger connection from 127.0.0.1" in log
    assert SECRET not in log


def test_a_wrong_proof_or_none_is_refused(debugged, site):
    with socket.create_connection(("127.0.0.1", debugged.port)) as sock:
        nonce = banner(sock)
        sock.sendall(connect_proof("not-the-secret", nonce).encode() + b"\n")
        data, closed = read_all(sock)
    assert closed and data == b""
    with socket.create_connection(("127.0.0.1", debugged.port)) as sock:
        banner(sock)
        # The secret itself is no proof either: only the HMAC of the nonce.
        sock.sendall(SECRET.encode() + b"\n")
        data, closed = read_all(sock)
    assert closed and data == b""
    assert debugged.log_text().count("wrong proof of WSGI_PTVSD_SECRET") == 2
    assert still_serving(debugged, site, 2) < 5


def test_a_client_with_the_proof_gets_the_debug_adapter(debugged):
    with socket.create_connection(("127.0.0.1", debugged.port)) as sock:
        nonce = banner(sock)
        sock.sendall(connect_proof(SECRET, nonce).encode() + b"\n")
        assert sock.recv(3) == b"OK\n"
        sock.sendall(INITIALIZE)
        reply = read_response(sock)
    assert reply["type"] == "response" and reply["command"] == "initialize"
    assert reply["success"] is True
    log = debugged.log_text()
    assert "a debugger connected from 127.0.0.1" in log
    assert SECRET not in log


class DapClient:
    """A DAP client (what Visual Studio Code is) on a real debug adapter:
    ``python -m debugpy.adapter`` listening for it on loopback."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.adapter = subprocess.Popen(
            [sys.executable, "-m", "debugpy.adapter", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-dir", str(tmp_path)],
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1",
                                                      self.port))
                break
            except OSError:
                assert time.monotonic() < deadline, "the adapter never listened"
                time.sleep(0.1)
        self.seq = 0
        self.buffer = b""
        self.received = []

    def send(self, command, **arguments):
        self.seq += 1
        self.sock.sendall(dap(command, self.seq, **arguments))
        return self.seq

    def wait(self, predicate, timeout=30):
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:
            for message in self.received:
                if predicate(message):
                    return message
            assert time.monotonic() < deadline, self.received
            while b"\r\n\r\n" not in self.buffer:
                chunk = self.sock.recv(65536)
                assert chunk, "the adapter closed: %r" % self.received
                self.buffer += chunk
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = int(head.split(b":")[1])
            while len(rest) < length:
                chunk = self.sock.recv(65536)
                assert chunk, "the adapter closed in a message"
                rest += chunk
            self.received.append(json.loads(rest[:length]))
            self.buffer = rest[length:]

    def response(self, seq):
        return self.wait(lambda m: m.get("type") == "response"
                         and m.get("request_seq") == seq)

    def close(self):
        self.sock.close()
        if self.adapter.poll() is None:
            self.adapter.kill()
            self.adapter.wait(10)


def marked_pids(mark):
    """The processes whose environment holds ``mark``: the gateway and
    anything it started, daemonized or not."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/environ" % name, "rb") as f:
                    if mark.encode() in f.read():
                        pids.append(int(name))
            except OSError:
                pass
    return pids


def listening_ports(pids):
    """The TCP ports on which the processes ``pids`` listen, read from
    /proc/net/tcp{,6} and the socket inodes among their descriptors."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.fixture
def marked(site):
    """A gateway with the debugger, its environment marked so that every
    process it starts can be found."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to list listening sockets")
    port = free_port()
    mark = "IISWSGI_TEST_MARK=%s" % uuid.uuid4().hex
    gw = site(env=dict([mark.split("=")]), WSGI_HANDLER="sample_apps.router",
              WSGI_PTVSD_SECRET=SECRET,
              WSGI_PTVSD_ADDRESS="127.0.0.1:%d" % port)
    assert gw.client.request(site.params()).status == 200
    gw.port = port
    gw.mark = mark
    return gw


def test_nothing_but_the_relay_listens_before_and_after_a_session(
        marked, site, tmp_path):
    """The whole flow the README gives: a real debug adapter listens for
    debugpy (attach with "listen"), ``python -m iiswsgi.hosting.debugger
    connect`` proves the secret and connects the gateway to it; the
    gateway's debugpy answers through it.  Before, during the wait for
    the next session and after, the gateway and everything it started
    listen on the relay's port and nothing else."""
    pids = marked_pids(marked.mark)
    assert marked.process.pid in pids
    assert listening_ports(pids) == {marked.port}
    client = DapClient(tmp_path)
    forwarder = None
    try:
        seq = client.send("initialize", clientID="test", adapterID="debugpy")
        assert client.response(seq)["success"] is True
        server_port = free_port()
        attach = client.send("attach", listen={"host": "127.0.0.1",
                                                "port": server_port})
        client.wait(lambda m: m.get("event") == "debugpyWaitingForServer")
        env = dict(os.environ, WSGI_PTVSD_SECRET=SECRET)
        forwarder = subprocess.Popen(
            [sys.executable, "-m", "iiswsgi.hosting.debugger", "connect",
             "127.0.0.1:%d" % marked.port, "--to",
             "127.0.0.1:%d" % server_port, "--once"], env=env,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.abspath(__file__)))))
        client.wait(lambda m: m.get("event") == "initialized")
        done = client.send("configurationDone")
        assert client.response(done)["success"] is True
        assert client.response(attach)["success"] is True
        process = client.wait(lambda m: m.get("event") == "process")
        # It is the gateway that is debugged, not anything else.
        assert process["body"]["systemProcessId"] == marked.process.pid
        threads = client.response(client.send("threads"))
        names = [t["name"] for t in threads["body"]["threads"]]
        assert "iiswsgi-debug-relay" in names, names
        # While attached, the gateway still listens on nothing new.
        assert listening_ports(marked_pids(marked.mark)) == {marked.port}
        assert still_serving(marked, site, 2) < 5
        assert client.response(client.send("disconnect"))["success"]
        # Visual Studio Code ends its adapter with the session.
        client.close()
        assert forwarder.wait(30) == 0
    finally:
        client.close()
        if forwarder is not None and forwarder.poll() is None:
            forwarder.kill()
            forwarder.wait(10)
    assert still_serving(marked, site, 3) < 5
    assert listening_ports(marked_pids(marked.mark)) == {marked.port}
    log = marked.log_text()
    assert "a debugger connected from 127.0.0.1" in log
    assert SECRET not in log


def test_a_second_session_after_the_first(marked, tmp_path):
    """debugpy connects out again for the next authenticated client."""
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", marked.port)) as sock:
            nonce = banner(sock)
            sock.sendall(connect_proof(SECRET, nonce).encode() + b"\n")
            assert sock.recv(3) == b"OK\n"
            sock.sendall(INITIALIZE)
            reply = read_response(sock)
            assert reply["command"] == "initialize" and reply["success"]
        time.sleep(0.5)
    assert listening_ports(marked_pids(marked.mark)) == {marked.port}


def test_the_forwarder_says_when_the_secret_is_wrong(debugged):
    """The forwarder connects to the listening adapter, and stops with the
    relay's refusal when the secret is wrong."""
    adapter = socket.create_server(("127.0.0.1", 0))
    try:
        started = time.monotonic()
        with pytest.raises(OSError, match="refused the secret"):
            forward(("127.0.0.1", debugged.port), SECRET + "x",
                    adapter.getsockname()[:2], once=True)
        assert time.monotonic() - started < 10
    finally:
        adapter.close()


def test_every_interface_needs_the_explicit_setting(site):
    port = free_port()
    gw = site(WSGI_HANDLER="sample_apps.router", WSGI_PTVSD_SECRET=SECRET,
              WSGI_PTVSD_ADDRESS="0.0.0.0:%d" % port)
    assert gw.client.request(site.params()).status == 200
    assert "is not a loopback address; not starting the debugger" in \
        gw.log_text()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_every_interface_with_the_setting_still_needs_the_proof(site):
    port = free_port()
    gw = site(WSGI_HANDLER="sample_apps.router", WSGI_PTVSD_SECRET=SECRET,
              WSGI_PTVSD_ADDRESS="0.0.0.0:%d" % port,
              WSGI_PTVSD_ALLOW_REMOTE="true")
    assert gw.client.request(site.params()).status == 200
    assert "WSGI_PTVSD_ALLOW_REMOTE: the debugger listens on 0.0.0.0" in \
        gw.log_text()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        banner(sock)
        sock.sendall(INITIALIZE)
        data, closed = read_all(sock)
    assert closed and data == b""


def test_a_short_secret_starts_no_debugger(site):
    port = free_port()
    gw = site(WSGI_HANDLER="sample_apps.router", WSGI_PTVSD_SECRET="tiny7",
              WSGI_PTVSD_ADDRESS="127.0.0.1:%d" % port)
    assert gw.client.request(site.params()).status == 200
    assert "WSGI_PTVSD_SECRET has fewer than 8 characters" in gw.log_text()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_the_relay_opens_nothing_behind_it_for_a_refused_client():
    """DebugRelay on its own, in front of a plain listening socket: a
    silent client is closed after the handshake timeout, and neither it
    nor a wrong proof ever causes a connection to what the relay guards;
    a right proof does."""
    from iiswsgi.hosting.debugger import DebugRelay
    guarded = socket.create_server(("127.0.0.1", 0))
    guarded.settimeout(0.5)
    relay = DebugRelay(("127.0.0.1", 0), guarded.getsockname(), SECRET,
                       timeout=0.5).start()
    try:
        with socket.create_connection(relay.address) as silent:
            banner(silent)
            started = time.monotonic()
            data, closed = read_all(silent, timeout=5)
            assert closed and data == b""
            assert time.monotonic() - started < 4
        with socket.create_connection(relay.address) as wrong:
            nonce = banner(wrong)
            wrong.sendall(connect_proof(SECRET + "x", nonce).encode() + b"\n")
            assert read_all(wrong) == (b"", True)
        with pytest.raises(socket.timeout):
            guarded.accept()
        with socket.create_connection(relay.address) as right:
            nonce = banner(right)
            right.sendall(connect_proof(SECRET, nonce).encode() + b"\n")
            guarded.settimeout(10)
            behind, _ = guarded.accept()
            with behind:
                assert right.recv(3) == b"OK\n"
                right.sendall(b"ping")
                assert behind.recv(4) == b"ping"
                behind.sendall(b"pong")
                assert right.recv(4) == b"pong"
    finally:
        relay.close()
        guarded.close()


STRANGER_RACE = r'''
import json, socket, sys
import debugpy
from iiswsgi.hosting.debugger import _DebugpyConnector

debugpy.configure(subProcess=False)
strangers = []

class Racing:
    """debugpy, with a stranger who reaches the inner port first."""
    def connect(self, address):
        strangers.append(socket.create_connection(address))
        debugpy.connect(address)

conn = _DebugpyConnector(Racing())()
stranger = strangers[0]
stranger.settimeout(10)
closed = stranger.recv(1) == b""
body = json.dumps({"seq": 1, "type": "request", "command": "initialize",
                   "arguments": {"adapterID": "debugpy"}}).encode()
conn.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
conn.settimeout(20)
data = b""
while b'"command": "initialize"' not in data and b'"command":"initialize"' not in data:
    chunk = conn.recv(65536)
    if not chunk:
        break
    data += chunk
print(json.dumps({"stranger_closed": closed,
                  "peer_is_stranger": conn.getpeername() == stranger.getsockname(),
                  "debugpy_answered": b'"success": true' in data or b'"success":true' in data}))
'''


def test_a_stranger_on_the_inner_port_is_closed_not_spliced(tmp_path):
    """Whoever reaches the inner port before debugpy does is closed; the
    connection handed on is debugpy's own, and it speaks DAP."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", STRANGER_RACE], cwd=root,
                         capture_output=True, timeout=60, text=True)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"stranger_closed": True, "peer_is_stranger": False,
                      "debugpy_answered": True}, out.stderr


def test_one_debugger_at_a_time(debugged):
    with socket.create_connection(("127.0.0.1", debugged.port)) as first:
        nonce = banner(first)
        first.sendall(connect_proof(SECRET, nonce).encode() + b"\n")
        assert first.recv(3) == b"OK\n"
        with socket.create_connection(("127.0.0.1", debugged.port)) as second:
            nonce = banner(second)
            second.sendall(connect_proof(SECRET, nonce).encode() + b"\n")
            assert read_all(second) == (b"", True)
        first.sendall(INITIALIZE)
        assert read_response(first)["success"] is True
    assert "a second debugger proved WSGI_PTVSD_SECRET while one is" \
        " attached" in debugged.log_text()
