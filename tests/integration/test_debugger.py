"""The remote debugger (WSGI_PTVSD_SECRET, WSGI_PTVSD_ADDRESS) with real
debugpy in the real gateway (`python -m iiswsgi`, started the IIS way):
only a client that proves the secret reaches it."""

import json
import socket
import threading
import time

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


def test_the_forwarder_proves_the_secret_for_the_debugger(debugged):
    bound, ready = [], threading.Event()
    threading.Thread(target=forward, args=(("127.0.0.1", debugged.port),
                                           SECRET, ("127.0.0.1", 0), ready,
                                           bound), daemon=True).start()
    assert ready.wait(10)
    with socket.create_connection(bound[0]) as sock:
        sock.sendall(INITIALIZE)
        reply = read_response(sock)
    assert reply["command"] == "initialize" and reply["success"] is True


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
