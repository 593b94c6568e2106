"""iiswsgi.gateway.responder.Responder in the test process, as waitress tests its
channel: the responder serves one end of a real socketpair
(transport.SocketChannel) in a thread, the test is the web server on the
other end (tests.support.fcgi, the web server side of iiswsgi.protocol.fastcgi).
The same behaviours through a real gateway process are in
tests/integration/test_iis_pipe.py and tests/reliability/."""

import logging
import socket
import sys
import threading

import pytest

from iiswsgi import logs
from iiswsgi.gateway.responder import Responder, ResponderSettings
from iiswsgi.gateway.transport import SocketChannel
from tests.support import fcgi
from tests.support.iis import iis_params

TIMEOUT = 10


class Served:
    """A Responder for ``app`` on one end of a socketpair, run in a thread
    until the other end (``client``) closes."""

    def __init__(self, app, **settings):
        ours, theirs = socket.socketpair()
        # A responder that waits longer than this has hung: its read gives
        # up (ReadTimeout) and run() returns "timeout", not "eof".
        ours.settimeout(TIMEOUT)
        self.channel = SocketChannel(ours)
        self.responder = Responder(ResponderSettings(app, **settings),
                                   self.channel)
        self.client = fcgi.Client(theirs, timeout=TIMEOUT)
        self.reason = None
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.reason = self.responder.run()
        except BaseException as error:   # shown by finish()
            self.error = error

    def request(self, path="/", body=b"", rid=1, **kw):
        return self.client.request(iis_params(path, body=body, **kw), body,
                                   rid=rid)

    def finish(self):
        """Close the web server's side; the reason the responder gave."""
        self.client.sock.shutdown(socket.SHUT_WR)
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "the responder did not end"
        self.client.sock.close()
        self.channel.close()
        if self.error is not None:
            raise self.error
        return self.reason


@pytest.fixture
def serve():
    started = []

    def start(app, **settings):
        served = Served(app, **settings)
        started.append(served)
        return served
    yield start
    for served in started:
        if served.thread.is_alive():
            served.finish()


class Closing:
    """A response iterable over ``chunks`` (bytes, or callables run when
    their turn comes) that records its close()."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.closed = threading.Event()
        self.produced = 0

    def __iter__(self):
        for chunk in self.chunks:
            self.produced += 1
            yield chunk() if callable(chunk) else chunk

    def close(self):
        self.closed.set()


def _next_ok(served, rid=2):
    """The connection still serves: the next request, to another
    application, is answered."""
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"next"]
    served.responder.settings.application = app
    response = served.request("/next", rid=rid)
    assert (response.status, response.body) == (200, b"next")


def _fail(message):
    def chunk():
        raise RuntimeError(message)
    return chunk


# -- GET and POST -------------------------------------------------------------

def test_get(serve):
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        seen["body"] = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello ", b"world"]
    served = serve(app)
    response = served.request("/app/page", query="a=1", app_path="/app")
    assert response.status == 200
    assert response.body == b"hello world"
    # A list is sent whole, with the length the application left out.
    assert response.header("Content-Length") == "11"
    assert response.stdout_ends == 1 and response.protocol_status == 0
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == ("/app", "/page")
    assert seen["QUERY_STRING"] == "a=1"
    assert seen["body"] == b""
    # The connection is kept: a second request on it.
    assert served.request("/app/again", app_path="/app", rid=2).status == 200
    assert served.finish() == "eof"


def test_a_list_body_over_64_kib_in_several_blocks(serve):
    blocks = [b"a" * 70000, bytearray(b"b" * 3), memoryview(b"c" * 65535),
              b"", b"d" * 200000]
    whole = b"".join(blocks)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return list(blocks)
    served = serve(app)
    response = served.request("/big")
    assert response.status == 200 and response.body == whole
    assert response.header("Content-Length") == str(len(whole))
    assert response.stdout_ends == 1
    # The records are FastCGI's largest, in order, then the end.
    sizes = [len(content) for rtype, _, content in response.records
             if rtype == fcgi.STDOUT and content]
    assert sizes[:-1] == [65535] * (len(sizes) - 1)
    assert served.finish() == "eof"


def test_a_list_holding_text_is_a_500(serve, iiswsgi_log):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok", "text"]
    served = serve(app)
    response = served.request("/text")
    assert response.status == 500
    assert "must be bytes, not str" in iiswsgi_log.text
    assert served.finish() == "eof"


def test_post_with_a_body_in_records(serve):
    def app(environ, start_response):
        data = environ["wsgi.input"].read()
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"%d:" % len(data), data[:10], data[-10:]]
    served = serve(app)
    body = bytes(range(256)) * 1000     # four STDIN records
    response = served.request("/upload", body=body, method="POST")
    assert response.status == 201
    assert response.body == b"256000:" + body[:10] + body[-10:]
    assert served.finish() == "eof"


def test_post_read_by_lines_after_spooling(serve, tmp_path):
    lines = [b"%06d %s\n" % (n, b"y" * (n % 50)) for n in range(5000)]
    body = b"".join(lines)

    def app(environ, start_response):
        stream = environ["wsgi.input"]
        first = stream.readline()
        rest = list(stream)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d %d %d" % (first == lines[0], rest == lines[1:],
                               stream.spooled)]
    served = serve(app, spool_threshold=4096, spool_dir=str(tmp_path))
    response = served.request("/lines", body=body, method="POST")
    assert response.body == b"1 1 1"
    assert served.finish() == "eof"


# -- a streamed response ------------------------------------------------------

def test_streamed_response_goes_out_as_it_is_made(serve):
    """The second chunk is only made once the test has received the
    first: the response cannot be buffered whole."""
    first_seen = threading.Event()

    def second():
        assert first_seen.wait(TIMEOUT), "the first chunk never arrived"
        return b"second"
    result = Closing([b"first;", second, b";third"])

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return result
    served = serve(app)
    served.client.send(fcgi.request(1, iis_params("/stream")))
    rtype, rid, content = served.client.read_record()
    assert (rtype, rid) == (fcgi.STDOUT, 1)
    assert content.endswith(b"\r\n\r\nfirst;")
    assert b"Content-Length" not in content      # no length is made up
    first_seen.set()
    response = served.client.read_response(1)
    assert response.stdout == b"second;third"
    assert response.stdout_ends == 1
    assert result.closed.is_set()
    assert served.finish() == "eof"


def test_write_callable(serve):
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"returned"]
    served = serve(app)
    assert served.request("/").body == b"written returned"


# -- the application fails ----------------------------------------------------

def test_exception_before_the_headers_is_a_500(serve, iiswsgi_log):
    def app(environ, start_response):
        raise RuntimeError("failed before start_response")
    served = serve(app)
    response = served.request("/boom")
    assert response.status == 500
    assert b"failed before" not in response.body     # not without debug
    assert response.header("Content-Type") == "text/html; charset=utf-8"
    errors = [r for r in iiswsgi_log.records if r.levelno == logging.ERROR]
    assert errors and errors[0].exc_info[1].args == (
        "failed before start_response",)
    _next_ok(served)
    assert served.finish() == "eof"


def test_the_500_page_says_where_the_log_is(serve, monkeypatch):
    from iiswsgi import logs
    def app(environ, start_response):
        raise RuntimeError("failed")
    served = serve(app)
    monkeypatch.setattr(logs, "where_logged",
                        lambda: "The traceback is in the iiswsgi log, C:\\a&b.log.")
    page = served.request("/boom").body.decode("utf-8")
    assert "The traceback is in the iiswsgi log, C:\\a&amp;b.log." in page
    monkeypatch.undo()
    page = served.request("/boom").body.decode("utf-8")
    assert logs.where_logged() in page.replace("&amp;", "&")


def test_with_debug_the_500_page_shows_the_traceback_escaped_and_redacted(
        serve, iiswsgi_log):
    logs.add_secret("responder-Qz4-secret")

    def app(environ, start_response):
        raise RuntimeError("<b>bad</b> responder-Qz4-secret")
    served = serve(app, debug=True)
    response = served.request("/boom")
    assert response.status == 500
    assert response.stdout.startswith(
        b"Status: 500 Internal Server Error\r\n")
    page = response.body.decode("utf-8")
    assert "<title>500 Internal Server Error</title>" in page
    assert "<pre>Traceback" in page
    assert "&lt;b&gt;bad&lt;/b&gt;" in page and "<b>" not in page
    assert "responder-Qz4-secret" not in page and "[redacted]" in page
    assert response.header("Content-Length") == str(len(response.body))
    _next_ok(served)
    assert served.finish() == "eof"


@pytest.mark.parametrize("settings, params, line", [
    ({}, {"CONTENT_LENGTH": "12x"}, "400 Bad Request"),
    ({"max_body": 10}, {"CONTENT_LENGTH": "11"}, "413 Content Too Large"),
])
def test_refused_requests_get_their_page(serve, iiswsgi_log, settings,
                                         params, line):
    def app(environ, start_response):
        raise AssertionError("not called")
    served = serve(app, **settings)
    response = served.request("/", **params)
    assert response.stdout.startswith(b"Status: %s\r\n" % line.encode())
    assert ("<h1>%s</h1>" % line).encode() in response.body
    assert b"<pre>" not in response.body
    _next_ok(served)
    assert served.finish() == "eof"


def test_exception_in_the_iterator_before_the_first_chunk(serve,
                                                          iiswsgi_log):
    result = Closing([_fail("no first chunk"), b"never"])

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return result
    served = serve(app)
    response = served.request("/boom")
    assert response.status == 500 and b"never" not in response.body
    assert result.closed.is_set()
    assert "the application failed on GET /boom" in iiswsgi_log.text
    _next_ok(served)


def test_exception_after_the_headers_cuts_the_response_short(serve,
                                                             iiswsgi_log):
    result = Closing([b"first chunk;", _fail("after a chunk"), b"never"])

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "100")])
        return result
    served = serve(app)
    served.client.send(fcgi.request(1, iis_params("/cut")))
    response, cut = _sent_records(served)
    # The connection ends without FCGI_END_REQUEST: the web server sees
    # the response fail, not a short one that looks complete.
    assert cut
    assert response.status == 200
    assert response.body == b"first chunk;"
    assert result.closed.is_set()
    assert "the response to GET /cut had started; it is cut short" in (
        iiswsgi_log.text)
    assert served.finish() == "cut"


# -- start_response with exc_info (PEP 3333) ----------------------------------

def test_exc_info_before_the_headers_were_sent_replaces_them(serve):
    """Headers set but not sent yet: start_response with exc_info replaces
    them, and the application's own error response goes out."""
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-First", "1")])
        try:
            raise ValueError("the application changed its mind")
        except ValueError:
            start_response("503 Service Unavailable",
                           [("Content-Type", "text/plain"),
                            ("Retry-After", "5")], sys.exc_info())
        return [b"try again later"]
    served = serve(app)
    response = served.request("/")
    assert response.status == 503
    assert response.header("Retry-After") == "5"
    assert response.header("X-First") is None
    assert response.body == b"try again later"


def test_exc_info_after_the_headers_were_sent_reraises(serve, iiswsgi_log):
    """Headers already sent: start_response with exc_info raises that
    exception again (PEP 3333), the response is cut short, not replaced."""
    raised = []

    def body(start_response):
        yield b"part one;"
        try:
            raise KeyError("the original error")
        except KeyError:
            try:
                start_response("500 Internal Server Error",
                               [("Content-Type", "text/plain")],
                               sys.exc_info())
            except KeyError as again:
                raised.append(again)
                raise
        yield b"never"

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body(start_response)
    served = serve(app)
    served.client.send(fcgi.request(1, iis_params("/late")))
    response, cut = _sent_records(served)
    assert cut
    assert response.status == 200
    assert response.body == b"part one;"
    assert len(raised) == 1 and raised[0].args == ("the original error",)
    errors = [r for r in iiswsgi_log.records if r.levelno == logging.ERROR
              and r.exc_info]
    assert errors[0].exc_info[1] is raised[0]
    assert "it is cut short" in iiswsgi_log.text
    assert served.finish() == "cut"


def test_start_response_twice_without_exc_info_is_an_error(serve,
                                                           iiswsgi_log):
    def app(environ, start_response):
        start_response("200 OK", [])
        start_response("404 Not Found", [])
        return [b"x"]
    served = serve(app)
    assert served.request("/").status == 500
    assert "start_response() called twice" in iiswsgi_log.text


# -- aborts -------------------------------------------------------------------

def test_abort_during_a_stream_stops_it(serve, iiswsgi_log):
    first_seen = threading.Event()

    def after_first():
        first_seen.wait(TIMEOUT)
        return b"chunk"
    result = Closing([b"first"] + [after_first] * 1000)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return result
    served = serve(app)
    served.client.send(fcgi.request(1, iis_params("/stream")))
    assert served.client.read_record()[0] == fcgi.STDOUT
    served.client.send(fcgi.record(fcgi.ABORT_REQUEST, 1))
    first_seen.set()
    response = served.client.read_response(1)
    assert [t for t, _, _ in response.records].count(fcgi.END_REQUEST) == 1
    assert result.closed.is_set()
    assert result.produced < 1000, result.produced
    assert "aborted the request during the response to GET /stream" in (
        iiswsgi_log.text)
    _next_ok(served)
    assert served.finish() == "eof"


def test_a_fast_stream_does_not_ask_the_channel_for_every_chunk(
        serve, monkeypatch):
    from iiswsgi.gateway import responder
    monkeypatch.setattr(responder, "LOOK_SECONDS", 1e9)  # no time-based look
    served = serve(None)
    asked = []
    pending = served.channel.pending

    def counting_pending():
        asked.append(1)
        return pending()
    served.channel.pending = counting_pending
    chunks = 16 * 20

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing([b"x"] * chunks)
    served.responder.settings.application = app
    response = served.request("/stream")
    assert response.status == 200 and response.body == b"x" * chunks
    # Once every 16 chunks (a system call each), not once a chunk.
    assert len(asked) == chunks // 16
    assert served.finish() == "eof"


def test_abort_while_the_application_reads_its_body(serve):
    outcome = []

    def app(environ, start_response):
        try:
            environ["wsgi.input"].read()
        except OSError as error:        # ClientDisconnected
            outcome.append(error)
            raise
        outcome.append("read a clean end")
        start_response("200 OK", [])
        return [b"stored"]
    served = serve(app)
    p = iis_params("/store", method="POST")
    p["CONTENT_LENGTH"] = "1000"
    served.client.send(fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1,
                                                   fcgi.pairs(p))
                       + fcgi.record(fcgi.STDIN, 1, b"u" * 300)
                       + fcgi.record(fcgi.ABORT_REQUEST, 1))
    response = served.client.read_response(1)
    assert response.stdout == b""       # nothing answered for an abort
    assert len(outcome) == 1 and isinstance(outcome[0], OSError), outcome
    _next_ok(served)
    assert served.finish() == "eof"


def test_abort_before_the_params_end(serve):
    called = []

    def app(environ, start_response):
        called.append(environ)
        start_response("200 OK", [])
        return [b""]
    served = serve(app)
    served.client.send(fcgi.begin(1) + fcgi.record(
        fcgi.PARAMS, 1, fcgi.pairs(iis_params("/"))[:40])
        + fcgi.record(fcgi.ABORT_REQUEST, 1))
    response = served.client.read_response(1)
    assert response.stdout == b"" and response.protocol_status == 0
    assert called == []
    assert served.request("/after", rid=1).status == 200
    assert len(called) == 1
    assert served.finish() == "eof"


# -- responses without a body (HEAD, 1xx, 204, 304) ------------------------------

def _sent_records(served, rid=1):
    """The response to ``rid`` as records, and whether the connection then
    ended (EOF) before FCGI_END_REQUEST."""
    response = fcgi.Response()
    try:
        while True:
            event = served.client.next_event()
            response.records.append(fcgi._as_record(event))
            if isinstance(event, fcgi.fastcgi.Stdout) and event.data:
                response.stdout += event.data
            elif isinstance(event, fcgi.fastcgi.EndRequest):
                return response.parse(), False
    except EOFError:
        return response.parse(), True


@pytest.mark.parametrize("kind", ["list", "iterator", "write"])
def test_head_gets_no_body_and_keeps_the_applications_length(serve, kind):
    """RFC 3875 §4.3.3: no body for HEAD, even from an application that
    makes one (Django's does); the length it set is kept, its iterable
    closed, and the connection serves on."""
    result = Closing([b"the body of GET"])

    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain"),
                                          ("Content-Length", "15")])
        if kind == "write":
            write(b"the body of GET")
            return []
        return [b"the body of GET"] if kind == "list" else result
    served = serve(app)
    response = served.request("/page", method="HEAD")
    assert response.status == 200
    assert response.body == b""
    assert response.stdout.endswith(b"\r\n\r\n")
    assert response.header("Content-Length") == "15"
    assert response.protocol_status == 0
    if kind == "iterator":
        assert result.closed.is_set()
    _next_ok(served)
    assert served.finish() == "eof"


def test_head_of_a_list_without_a_length_says_the_get_length(serve):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"twelve bytes"]
    served = serve(app)
    response = served.request("/", method="HEAD")
    assert (response.body, response.header("Content-Length")) == (b"", "12")


def test_head_of_an_error_page_has_no_body(serve, iiswsgi_log):
    def app(environ, start_response):
        raise RuntimeError("fails on HEAD too")
    served = serve(app)
    response = served.request("/", method="HEAD")
    assert response.status == 500 and response.body == b""
    assert int(response.header("Content-Length")) > 0
    _next_ok(served)


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified",
                                    "103 Early Hints"])
@pytest.mark.parametrize("body", [[], [b"dropped"]], ids=["empty", "body"])
def test_bodiless_statuses_get_no_length_and_no_body(serve, status, body):
    def app(environ, start_response):
        start_response(status, [("ETag", '"x"')])
        return body
    served = serve(app)
    response = served.request("/")
    assert response.stdout.startswith(b"Status: " + status.encode())
    assert response.header("Content-Length") is None
    assert response.body == b""
    _next_ok(served)


# -- a response cut short ends the connection, not the request --------------------

@pytest.mark.parametrize("keep_conn", [True, False])
def test_failure_after_the_head_ends_the_connection_without_end_request(
        serve, iiswsgi_log, keep_conn):
    result = Closing([b"first chunk;", _fail("after a chunk"), b"never"])

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return result
    served = serve(app)
    served.client.send(fcgi.request(1, iis_params("/cut"),
                                    keep_conn=keep_conn))
    response, cut = _sent_records(served)
    assert cut, "FCGI_END_REQUEST was sent for a response cut short"
    assert response.status == 200 and response.body == b"first chunk;"
    assert fcgi.END_REQUEST not in [t for t, _, _ in response.records]
    assert result.closed.is_set()
    served.thread.join(TIMEOUT)
    assert served.reason == "cut"
    assert "is incomplete" in iiswsgi_log.text


@pytest.mark.parametrize("kind", ["list", "iterator"])
def test_content_length_not_delivered_ends_the_connection(serve, iiswsgi_log,
                                                          kind):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "100")])
        return [b"only ", b"ten"] if kind == "list" else Closing(
            [b"only ", b"ten"])
    served = serve(app)
    served.client.send(fcgi.request(1, iis_params("/short")))
    response, cut = _sent_records(served)
    assert cut and response.body == b"only ten"
    served.thread.join(TIMEOUT)
    assert served.reason == "cut"
    assert "Content-Length: 100 but made only 8 bytes" in iiswsgi_log.text


def test_content_length_delivered_whole_ends_normally(serve):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "8")])
        return Closing([b"only ", b"ten"[:3]])
    served = serve(app)
    assert served.request("/").body == b"only ten"
    _next_ok(served)


# -- the rest of a body the application did not read ------------------------------

def _unread_post(served, size, rid=1):
    """Send a POST of ``size`` bytes, from another thread, without the
    empty FCGI_STDIN record that ends its body; returns the thread."""
    p = iis_params("/ignores", method="POST")
    p["CONTENT_LENGTH"] = str(size)
    served.client.send(fcgi.begin(rid) + fcgi.stream(fcgi.PARAMS, rid,
                                                     fcgi.pairs(p)))
    body = fcgi.stream(fcgi.STDIN, rid, b"u" * size)
    sender = threading.Thread(target=served.client.send,
                              args=(body[:-fcgi.fastcgi.HEADER_LEN],),
                              daemon=True)
    sender.start()
    return sender


def _ignores_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"did not read"]


@pytest.mark.parametrize("kind", ["list", "iterator"])
def test_an_unread_body_is_read_before_the_request_ends(serve, monkeypatch,
                                                        kind):
    """h2o and HAProxy fail when FCGI_END_REQUEST comes before the end of
    the body: the gateway reads the rest first.  A response held whole
    (a list) waits for it too, while every web server still sends the
    body; a streamed one has gone out already."""
    from iiswsgi.gateway import responder
    monkeypatch.setattr(responder, "DRAIN_GAP_SECONDS", TIMEOUT)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"did not read"] if kind == "list" else iter(
            [b"did not read"])
    served = serve(app)
    sender = _unread_post(served, 300000)
    if kind == "iterator":
        rtype, _, content = served.client.read_record()
        assert rtype == fcgi.STDOUT and content.endswith(b"did not read")
    sender.join(TIMEOUT)
    # All of the body but its end was sent: the request does not end yet.
    served.client.sock.settimeout(0.5)
    with pytest.raises(socket.timeout):
        served.client.read_record()
    served.client.sock.settimeout(TIMEOUT)
    served.client.send(fcgi.record(fcgi.STDIN, 1))
    response = served.client.read_response(1)
    assert response.protocol_status == 0
    if kind == "list":
        assert response.body == b"did not read"
    _next_ok(served)
    assert served.finish() == "eof"


def test_a_body_the_web_server_holds_back_ends_the_request(serve,
                                                           monkeypatch):
    """nginx stops sending a body once it has the response head: after
    DRAIN_GAP_SECONDS without any of it the request ends, then the
    connection closes (FIN first, what still comes is read and dropped),
    since a web server may not take another request on it before the body
    is all sent (HAProxy)."""
    from iiswsgi.gateway import responder
    monkeypatch.setattr(responder, "DRAIN_GAP_SECONDS", 0.2)
    served = serve(lambda environ, start_response: (
        start_response("200 OK", []), iter([b"streamed"]))[1])
    p = iis_params("/ignores", method="POST")
    p["CONTENT_LENGTH"] = "1000"
    served.client.send(fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1,
                                                   fcgi.pairs(p))
                       + fcgi.record(fcgi.STDIN, 1, b"u" * 100))
    response = served.client.read_response(1)
    assert response.body == b"streamed" and response.protocol_status == 0
    served.client.send(fcgi.record(fcgi.STDIN, 1, b"u" * 900)
                       + fcgi.record(fcgi.STDIN, 1))
    served.thread.join(TIMEOUT)
    assert served.reason == "close"


def test_an_unread_body_over_the_limit_closes_the_connection(serve,
                                                             monkeypatch):
    from iiswsgi.gateway import responder
    monkeypatch.setattr(responder, "DRAIN_LIMIT", 100000)
    served = serve(_ignores_body)
    sender = _unread_post(served, 400000)
    response = served.client.read_response(1)
    assert response.body == b"did not read" and response.protocol_status == 0
    served.thread.join(TIMEOUT)
    assert served.reason == "close"
    served.client.sock.settimeout(TIMEOUT)
    sender.join(TIMEOUT)


# -- CONTENT_LENGTH=-1 (Caddy 2.6, chunked) ---------------------------------------

def test_negative_content_length_is_an_unknown_length(serve):
    seen = {}

    def app(environ, start_response):
        seen["length"] = environ.get("CONTENT_LENGTH")
        seen["body"] = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b"%d" % len(seen["body"])]
    served = serve(app)
    response = served.request("/chunked", body=b"c" * 70000, method="POST",
                              CONTENT_LENGTH="-1")
    assert response.status == 200 and response.body == b"70000"
    assert seen == {"length": None, "body": b"c" * 70000}
