"""FCGI_WEB_SERVER_ADDRS, the FastCGI allow-list: a listening gateway
(`iiswsgi serve app.ini`, bound to 127.0.0.1) closes, unanswered, a
connection from an address that is not listed, and serves one that is.
Two loopback source addresses (127.0.0.1 and 127.0.0.2, both on Linux's
lo) stand for a web server that may connect and a stranger."""

import json
import socket
import sys

import pytest

from tests.integration.peers_support import (
    IISWSGI, Proc, free_port, require_script, subprocess_env, tcp_ready,
    wait_until, write_ini)
from tests.reliability.fault_support import params, problems
from tests.support import fcgi
from tests.support.iis import wait_for

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="needs 127.0.0.2 as a source address (all of 127/8 is local on"
    " Linux only)")


def _gateway(tmp_path, allowed):
    port = free_port()
    log = tmp_path / "gateway.log"
    ini = write_ini(tmp_path / "app.ini", "call:sample_apps:make_router",
                    {"host": "127.0.0.1", "port": port, "log_file": log,
                     "threads": 2})
    extra = {} if allowed is None else {"FCGI_WEB_SERVER_ADDRS": allowed}
    proc = Proc("gateway", [require_script(IISWSGI), "serve", ini],
                tmp_path, env=subprocess_env(**extra))
    try:
        wait_until(lambda: tcp_ready(port), "the gateway on port %d" % port,
                   proc)
    except BaseException:
        proc.stop()
        raise
    return proc, port, log


def _client(port, source):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return fcgi.Client(sock, timeout=10)


def _served(client, path):
    response = client.request(params(path))
    assert response.status == 200, response.stdout[:300]
    return json.loads(response.body)["PATH_INFO"]


def _refused(client):
    """True when the gateway closed the connection without answering."""
    try:
        client.send(fcgi.request(1, params("/refused")))
    except OSError:
        return True                     # closed before the request went
    try:
        data = client.sock.recv(65536)
    except ConnectionResetError:
        return True
    assert data == b"", "the gateway answered a refused connection: %r" % (
        data[:200],)
    return True


@pytest.mark.parametrize("allowed", ["127.0.0.2", " 127.0.0.9 ,127.0.0.2 "])
def test_only_listed_addresses_are_served(tmp_path, allowed):
    proc, port, log = _gateway(tmp_path, allowed)
    try:
        listed = _client(port, "127.0.0.2")
        stranger = _client(port, "127.0.0.1")
        assert _refused(stranger)
        stranger.sock.close()
        # The refusal is logged, naming the address.
        wait_for(lambda: "not in FCGI_WEB_SERVER_ADDRS" in log.read_text(),
                 timeout=10, what="the refusal in the log")
        assert "refusing a connection from ('127.0.0.1'," in log.read_text()
        # The listed address is served, again and again on its connection,
        # and after the refusal the gateway still serves.
        assert _served(listed, "/first") == "/first"
        assert _served(listed, "/second") == "/second"
        listed.sock.close()
        assert proc.alive()
        assert problems(log.read_text()) == []
    finally:
        proc.stop()


def test_without_the_variable_every_address_is_served(tmp_path):
    proc, port, log = _gateway(tmp_path, None)
    try:
        for source in ("127.0.0.1", "127.0.0.2"):
            client = _client(port, source)
            assert _served(client, "/from-" + source) == "/from-" + source
            client.sock.close()
        assert "FCGI_WEB_SERVER_ADDRS" not in log.read_text()
    finally:
        proc.stop()
