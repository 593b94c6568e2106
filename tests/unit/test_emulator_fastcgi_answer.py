"""The answer of a FastCGI process (iiswsgi.emulator.fastcgi_answer): the
CGI head read by iiswsgi.protocol.cgi, as IIS answers with it.  A real
process of a real pool answers each request with the bytes the test
gives."""

import io
import os
import sys
import time

import pytest

from iiswsgi import safexml
from iiswsgi.emulator.config import FastCgiSettings, HandlerRule
from iiswsgi.emulator.fastcgi_answer import (
    MAX_HEADER_BYTES, FastCgiAnswer, response_head)
from iiswsgi.emulator.pool import Pool
from iiswsgi.protocol.cgi import parse_head

# Answers each request with the bytes of its X-Answer header (hex).
RESPONDER = '''
import os
import socket

from iiswsgi.protocol import fastcgi

channel = socket.socket(fileno=os.dup(0))
connection = fastcgi.Connection()
params = {}
while True:
    event = connection.next_event()
    if event is fastcgi.CLOSED:
        break
    if event is fastcgi.NEED_DATA:
        connection.receive_data(channel.recv(65536))
        continue
    if isinstance(event, fastcgi.Request):
        params = event.params
    elif isinstance(event, fastcgi.BodyEnd):
        answer = bytes.fromhex(params["HTTP_X_ANSWER"])
        channel.sendall(connection.send_stdout(answer)
                        + connection.end_request(0))
    pending = connection.data_to_send()
    if pending:
        channel.sendall(pending)
'''


# The hop-by-hop cases of the emulator's old head parser: the parser keeps
# them (tests/unit/test_cgi.py), IIS drops them.
@pytest.mark.parametrize("head, status_line, headers", [
    (b"Connection: close\r\nTransfer-Encoding: chunked\r\nX: y",
     "200 OK", [("X", "y")]),
    (b"Status: 404\r\nKeep-Alive: timeout=5\r\nupgrade: h2c\r\nX-A: b",
     "404 Not Found", [("X-A", "b")]),
    (b"Location: /x\r\nTE: trailers", "302 Found", [("Location", "/x")]),
])
def test_hop_by_hop_headers_are_iis_business(head, status_line, headers):
    assert response_head(parse_head(head + b"\r\n\r\n")) == \
        (status_line, headers)


@pytest.fixture
def pool(tmp_path):
    script = tmp_path / "responder.py"
    script.write_text(RESPONDER)
    pool = Pool(FastCgiSettings(sys.executable, str(script),
                                max_instances=1), dict(os.environ))
    yield pool
    pool.close()


def ask(pool, answer, limit=None):
    """(status line, headers, body) of the emulator's answer when the
    process answers ``answer``."""
    handler = HandlerRule.from_element(safexml.parse(
        '<add name="raw" path="*" modules="FastCgiModule"'
        ' scriptProcessor="p|a" %s/>' % (
            'responseBufferLimit="%d" ' % limit if limit is not None
            else "")), "web.config")
    environ = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/x",
               "HTTP_HOST": "localhost", "wsgi.input": io.BytesIO()}
    params = [(b"PATH_INFO", b"/x"), (b"HTTP_X_ANSWER", answer.hex().encode())]
    started = []
    result = FastCgiAnswer(pool, handler, params, environ)
    result.respond(lambda status, headers: started.append((status, headers)),
                   environ, "/x", time.monotonic())
    try:
        body = b"".join(result)
    finally:
        result.close()
    (status, headers), = started
    return status, headers, body


def test_status_headers_and_body(pool):
    status, headers, body = ask(
        pool, b"Status: 404\r\nConnection: close\r\nX: y\r\n\r\nno page")
    assert (status, headers, body) == ("404 Not Found", [("X", "y")],
                                       b"no page")


# Read to its end (within responseBufferLimit), the answer leaves the
# process reusable; with a limit of 0 the exchange is cut, and the
# process is replaced.
@pytest.mark.parametrize("limit, processes", [(None, 1), (0, 2)])
def test_malformed_head_is_iis_500(pool, limit, processes):
    status, _, body = ask(pool, b"Bad Name: x\r\n\r\nbody", limit)
    assert status == "500 Internal Server Error"
    assert b"The FastCGI process returned malformed headers" in body
    assert b"header line 1 is not" in body and b"0x8007000d" in body
    assert ask(pool, b"A: b\r\n\r\nok")[::2] == ("200 OK", b"ok")
    assert pool.started == processes


def test_answer_ending_inside_its_head(pool):
    status, _, body = ask(pool, b"just a body, no headers")
    assert status == "500 Internal Server Error"
    assert b"malformed headers" in body
    assert b"ended before the empty line" in body


def test_head_longer_than_iis_takes(pool):
    status, _, body = ask(pool, b"A: " + b"x" * MAX_HEADER_BYTES)
    assert status == "500 Internal Server Error"
    assert b"malformed headers" in body
    assert b"in the first %d bytes" % MAX_HEADER_BYTES in body
