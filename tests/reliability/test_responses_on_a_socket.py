"""Answers web servers get wrong when the gateway does, through a real
``iiswsgi serve module:app --socket`` process and real Unix sockets (the
same behaviours in process: tests/unit/test_responder.py).

- HEAD gets no body (RFC 3875 §4.3.3; HAProxy answers 502, h2o loses its
  keep-alive framing), the application's Content-Length kept.
- 1xx, 204 and 304 get neither a Content-Length nor a body.
- A response cut short (the application failed after its head, or did not
  deliver its Content-Length) ends the connection without
  FCGI_END_REQUEST, so the web server sees it fail.
- The rest of a body the application did not read is read before
  FCGI_END_REQUEST (h2o 2.2 crashes, HAProxy hangs the next request).
- CONTENT_LENGTH=-1 (Caddy 2.6, a chunked body) is an unknown length.
"""

import json
import socket

import pytest

from tests.integration.peers_support import (
    IISWSGI, require_script, socket_path, start_gateway, unix_connect)
from tests.reliability.fault_support import params
from tests.support import fcgi

APP = "tests.reliability.response_apps:application"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    directory = tmp_path_factory.mktemp("responses")
    with socket_path(directory) as sock:
        proc = start_gateway(directory, None, sock, args=[
            require_script(IISWSGI), "serve", APP, "--socket", sock])
        try:
            yield sock, proc
        finally:
            proc.stop()


def _connect(gateway):
    return fcgi.Client(unix_connect(gateway[0]), timeout=10)


def _records_until_closed(client, rid=1):
    """(response, closed): what came for ``rid``, and whether the
    connection closed before FCGI_END_REQUEST."""
    response = fcgi.Response()
    while True:
        try:
            rtype, _, content = client.read_record()
        except (EOFError, ConnectionResetError):
            return response.parse(), True
        response.records.append((rtype, rid, content))
        if rtype == fcgi.STDOUT:
            response.stdout += content
        elif rtype == fcgi.END_REQUEST:
            return response.parse(), False


def _still_serves(gateway):
    client = _connect(gateway)
    response = client.request(params("/next"))
    assert (response.status, response.body) == (200, b"/next")
    client.sock.close()
    assert gateway[1].alive()


def test_head_has_no_body_and_the_connection_serves_on(gateway):
    client = _connect(gateway)
    response = client.request(params("/head", method="HEAD"))
    assert response.status == 200
    assert response.header("Content-Length") == "15"
    assert response.stdout.endswith(b"\r\n\r\n") and response.body == b""
    # The next request on the same connection is read from its start.
    response = client.request(params("/after-head"), rid=2)
    assert (response.status, response.body) == (200, b"/after-head")
    client.sock.close()


@pytest.mark.parametrize("code", [204, 304])
def test_no_length_and_no_body_for_204_and_304(gateway, code):
    client = _connect(gateway)
    response = client.request(params("/status", "code=%d" % code))
    assert response.status == code
    assert response.header("Content-Length") is None
    assert response.body == b""
    client.sock.close()


@pytest.mark.parametrize("path, body", [("/cut", b"first chunk;"),
                                        ("/short", b"only ten")])
@pytest.mark.parametrize("keep_conn", [True, False])
def test_a_response_cut_short_ends_the_connection(gateway, path, body,
                                                  keep_conn):
    client = _connect(gateway)
    client.send(fcgi.request(1, params(path), keep_conn=keep_conn))
    response, closed = _records_until_closed(client)
    assert closed, "FCGI_END_REQUEST came for a response cut short"
    assert response.status == 200 and response.body == body
    client.sock.close()
    _still_serves(gateway)


def test_an_unread_body_is_read_before_the_request_ends(gateway):
    client = _connect(gateway)
    size = 768 << 10                    # under the 1 MiB limit
    p = params("/ignores-body", method="POST")
    p["CONTENT_LENGTH"] = str(size)
    whole = fcgi.request(1, p, b"u" * size)
    client.send(whole[:-fcgi.fastcgi.HEADER_LEN])
    # Within the gateway's DRAIN_GAP_SECONDS (0.5 s), the request does not
    # end before its body has.
    client.sock.settimeout(0.2)
    with pytest.raises(socket.timeout):
        client.read_record()
    client.sock.settimeout(10)
    client.send(whole[-fcgi.fastcgi.HEADER_LEN:])
    response = client.read_response(1)
    assert response.protocol_status == 0
    response = client.request(params("/after-unread"), rid=2)
    assert response.body == b"/after-unread"
    client.sock.close()


def test_an_unread_body_over_the_drain_limit_closes_the_connection(gateway):
    from iiswsgi.gateway.responder import DRAIN_LIMIT
    client = _connect(gateway)
    size = DRAIN_LIMIT + (4 << 20)      # more than is worth reading
    p = params("/ignores-body", method="POST")
    p["CONTENT_LENGTH"] = str(size)
    client.send(fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1, fcgi.pairs(p)))
    sent = 0
    try:
        chunk = fcgi.record(fcgi.STDIN, 1, b"u" * 65535)
        while sent < size:
            client.send(chunk)
            sent += 65535
    except OSError:
        pass                            # the gateway closed the connection
    response, closed = _records_until_closed(client)
    # The request ended (FCGI_END_REQUEST came), then the connection closed.
    assert not closed and response.body == b"did not read"
    assert client.closed(), "the connection stayed open with 4 MiB unread"
    client.sock.close()
    _still_serves(gateway)


def test_content_length_minus_one_reads_to_the_end_of_stdin(gateway):
    client = _connect(gateway)
    body = b"c" * 200000
    p = params("/read-body", method="POST")
    p["CONTENT_LENGTH"] = "-1"
    response = client.request(p, body)
    assert response.status == 200, response.stdout[:300]
    assert json.loads(response.body) == {"received": 200000,
                                         "CONTENT_LENGTH": None}
    client.sock.close()


def test_a_factory_spec_serves_too(tmp_path):
    with socket_path(tmp_path) as sock:
        proc = start_gateway(tmp_path, None, sock, args=[
            require_script(IISWSGI), "serve",
            "tests.reliability.response_apps:make_application()",
            "--socket", sock])
        try:
            _still_serves((sock, proc))
        finally:
            proc.stop()
