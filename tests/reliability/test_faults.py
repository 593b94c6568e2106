"""Fault injection against a real gateway process, started as IIS starts
it (tests.support.iis.Gateway), and in-process where that is the only way.

Applications: tests/apps/fault_apps.py.  Every loop here is bounded in
count and time; all traffic is on a socketpair.
"""

import json
import sys
import time
from urllib.parse import quote

import pytest

from iiswsgi.gateway.environ import build_environ
from tests.reliability.fault_support import (
    CAN_SEE_UNREAD, EXIT_TIMEOUT, closed_marker, echo_head, ok, params,
    problems, read_until_closed, rss_peak_kib, stage_marker,
    wait_until_read)
from tests.support import fcgi

STREAMS = "tests.reliability.stream_apps.application"


# -- the web server goes away at every stage -----------------------------

CLOSE_STAGES = {
    "after-begin": lambda: fcgi.begin(1),
    "mid-params-between-records": lambda: fcgi.begin(1) + fcgi.record(
        fcgi.PARAMS, 1, fcgi.pairs(params("/echo"))[:200]),
    "mid-params-inside-a-record": lambda: fcgi.begin(1) + fcgi.record(
        fcgi.PARAMS, 1, fcgi.pairs(params("/echo")))[:100],
    "after-params": echo_head,
    "mid-stdin-between-records": lambda: echo_head()
    + fcgi.record(fcgi.STDIN, 1, b"x" * 40),
}


#: The stages at which the application has been called (and reads).
APPLICATION_STAGES = ("after-params", "mid-stdin-between-records",
                      "mid-stdin-inside-a-record")


@pytest.mark.skipif(not CAN_SEE_UNREAD, reason="needs Linux's SIOCOUTQ to"
                    " see that the gateway read what was sent")
@pytest.mark.parametrize("stage", sorted(CLOSE_STAGES) + [
    "mid-stdin-inside-a-record"])
def test_pipe_closed_at_every_stage(fault_gateway, fault_markers, stage):
    gw = fault_gateway()
    if stage == "mid-stdin-inside-a-record":
        data = echo_head() + fcgi.record(fcgi.STDIN, 1, b"x" * 40)[:20]
    else:
        data = CLOSE_STAGES[stage]()
    gw.send(data)
    # The gateway is at that stage: it has read every byte sent and, once
    # the parameters are complete, called the application, which reads.
    wait_until_read(gw)
    reading = fault_markers / "echo-reading.stage"
    if stage in APPLICATION_STAGES:
        assert stage_marker(fault_markers, "echo-reading") == "reached\n"
    else:
        assert not reading.exists(), "the application ran at " + stage
    gw.close_pipe()
    assert gw.wait(EXIT_TIMEOUT) == 0
    log = gw.log_text()
    assert problems(log) == [], log
    assert "exiting after" in log


def test_pipe_closed_while_the_app_streams(fault_gateway, fault_markers):
    gw = fault_gateway()
    gw.send(fcgi.request(1, params("/stream", "count=2000&size=100")))
    for _ in range(3):
        rtype, rid, content = gw.client.read_record()
        assert (rtype, rid) == (fcgi.STDOUT, 1) and content
    gw.close_pipe()
    assert gw.wait(EXIT_TIMEOUT) == 0
    log = gw.log_text()
    assert problems(log) == [], log
    assert "closed the connection during a request" in log \
        or "closed the pipe" in log
    assert closed_marker(fault_markers, "stream") == 1


# -- FCGI_ABORT_REQUEST at every stage ----------------------------------------

def test_abort_before_the_params_end(fault_gateway):
    gw = fault_gateway()
    gw.send(fcgi.begin(1) + fcgi.record(fcgi.PARAMS, 1, fcgi.pairs(
        params("/echo"))[:50]) + fcgi.record(fcgi.ABORT_REQUEST, 1))
    response = gw.client.read_response(1)
    assert response.stdout == b"" and response.protocol_status == 0
    ok(gw, rid=2)
    ok(gw, rid=1)


def test_abort_right_after_begin(fault_gateway):
    gw = fault_gateway()
    gw.send(fcgi.begin(1) + fcgi.record(fcgi.ABORT_REQUEST, 1))
    assert gw.client.read_response(1).stdout == b""
    ok(gw, rid=1)


def test_abort_in_the_middle_of_the_body(fault_gateway, fault_markers):
    gw = fault_gateway()
    gw.send(echo_head(1000) + fcgi.record(fcgi.STDIN, 1, b"b" * 300)
            + fcgi.record(fcgi.ABORT_REQUEST, 1))
    response = gw.client.read_response(1)
    assert response.protocol_status == 0
    ok(gw, rid=2)
    assert problems(gw.log_text()) == []



def test_an_aborted_body_is_not_a_clean_end(fault_gateway, fault_markers):
    gw = fault_gateway()
    p = params("/store", method="POST")
    p["CONTENT_LENGTH"] = "1000"
    gw.send(fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1, fcgi.pairs(p))
            + fcgi.record(fcgi.STDIN, 1, b"u" * 300))
    # The application is reading, and the gateway has read all 300 bytes.
    stage_marker(fault_markers, "store-reading")
    if CAN_SEE_UNREAD:
        wait_until_read(gw)
    gw.send(fcgi.record(fcgi.ABORT_REQUEST, 1))
    gw.client.read_response(1)
    ok(gw, rid=2)
    stored = fault_markers / "store.size"
    assert not stored.exists(), "the application stored %s bytes of 1000" % (
        stored.read_text().strip())


def test_abort_after_the_body_while_the_app_is_slow(
        fault_gateway, fault_markers):
    gw = fault_gateway()
    gw.send(fcgi.request(1, params("/read-then-slow", "delay=0.5"), b"abc")
            + fcgi.record(fcgi.ABORT_REQUEST, 1))
    response = gw.client.read_response(1)
    # The whole body was read before the abort, which waits behind it
    # unread while the application sleeps; the gateway looks for an abort
    # only after each chunk it sent.  So the response goes out whole, the
    # abort is seen after its one chunk, and the request ends once.
    assert response.status == 200, response.stdout[:300]
    assert response.body == b"slow done"
    assert response.stdout_ends == 1 and response.protocol_status == 0
    assert [t for t, _, _ in response.records].count(fcgi.END_REQUEST) == 1
    assert closed_marker(fault_markers, "slow") == 1
    assert ("aborted the request during the response to GET"
            " /read-then-slow" in gw.log_text()), gw.log_text()
    ok(gw, rid=1)
    assert problems(gw.log_text()) == []


def test_abort_after_the_response(fault_gateway):
    gw = fault_gateway()
    ok(gw, rid=1, path="/first")
    gw.send(fcgi.record(fcgi.ABORT_REQUEST, 1))
    response = ok(gw, rid=1, path="/second")
    # No stray END_REQUEST for the abort of a finished request.
    assert [t for t, _, _ in response.records].count(fcgi.END_REQUEST) == 1
    ok(gw, rid=3, path="/third")


# -- the application fails -----------------------------------------------

def test_raise_in_start_response(fault_gateway):
    gw = fault_gateway()
    response = gw.client.request(params("/raise-in-start-response"))
    assert response.status == 500
    ok(gw)
    assert "bad response header name" in gw.log_text()


def test_raise_in_iterator_before_the_first_chunk(
        fault_gateway, fault_markers):
    gw = fault_gateway()
    response = gw.client.request(params("/raise-before-first-chunk"))
    assert response.status == 500
    assert b"never" not in response.body
    assert closed_marker(fault_markers, "before") == 1
    ok(gw)
    assert "before the first chunk" in gw.log_text()


def test_raise_in_iterator_after_the_first_chunk(fault_gateway, fault_markers):
    gw = fault_gateway()
    response = read_until_closed(gw, params("/raise-after-first-chunk"))
    # The head went out: the response is cut short, not turned into a 500,
    # and the request is not ended: the pipe closes (the process exits),
    # so the web server sees the response fail, not a complete one.
    assert response.status == 200
    assert response.body == b"first chunk;"
    assert int(response.header("Content-Length")) > len(response.body)
    assert fcgi.END_REQUEST not in [t for t, _, _ in response.records]
    assert closed_marker(fault_markers, "after") == 1
    assert gw.wait(EXIT_TIMEOUT) == 0
    log = gw.log_text()
    assert "after a chunk" in log and "cut short" in log
    assert "so that IIS sees the request fail" in log


def test_exc_info_before_the_headers_went_out(fault_gateway):
    gw = fault_gateway(handler=STREAMS)
    response = gw.client.request(params("/exc-info-before"))
    assert response.status == 503
    assert response.header("Retry-After") == "5"
    assert response.body == b"try again later"
    assert problems(gw.log_text()) == []


def test_exc_info_after_the_headers_went_out(fault_gateway):
    gw = fault_gateway(handler=STREAMS)
    response = read_until_closed(gw, params("/exc-info-after"))
    # Not replaced by a 500: the head had gone, the body is cut short, and
    # the pipe closes without FCGI_END_REQUEST.
    assert response.status == 200
    assert response.body == b"part one;"
    assert fcgi.END_REQUEST not in [t for t, _, _ in response.records]
    assert gw.wait(EXIT_TIMEOUT) == 0
    log = gw.log_text()
    assert "KeyError: 'the original error'" in log, log
    assert "had started; it is cut short" in log, log


@pytest.mark.parametrize("path, name, body", [
    ("/raise-in-close", "close", b"all of the body"),
    ("/raise-in-close-before-body", "close-empty", b"")])
def test_raise_in_close(fault_gateway, fault_markers, path, name, body):
    gw = fault_gateway()
    response = gw.client.request(params(path))
    assert response.status == 200
    assert response.body == body
    assert closed_marker(fault_markers, name) == 1
    ok(gw)
    assert "close failed on purpose" in gw.log_text()


def test_close_called_when_the_web_server_aborts_a_stream(
        fault_gateway, fault_markers):
    gw = fault_gateway()
    gw.send(fcgi.request(1, params("/stream", "count=40&delay=0.02")))
    gw.client.read_record()
    gw.send(fcgi.record(fcgi.ABORT_REQUEST, 1))
    # The gateway looks for an abort between chunks: the stream stops
    # there (40 x 20 ms if it ran to its end), then the request ends.
    started = time.monotonic()
    response = gw.client.read_response(1)
    assert time.monotonic() - started < 0.5
    assert len(response.stdout) < 40 * 10
    assert sum(1 for t, _, _ in response.records
               if t == fcgi.END_REQUEST) == 1
    assert closed_marker(fault_markers, "stream") == 1
    ok(gw)


# -- a reader that does not read --------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_slow_reader_keeps_memory_bounded(fault_gateway):
    gw = fault_gateway()
    ok(gw)
    before = rss_peak_kib(gw.process.pid)
    count, size = 800, 65536            # 50 MiB
    gw.send(fcgi.request(1, params("/stream", "count=%d&size=%d&delay=0"
                                   % (count, size))))
    time.sleep(2.0)                     # the client reads nothing
    stalled = rss_peak_kib(gw.process.pid)
    received = 0
    deadline = time.monotonic() + 60
    stdout_end = False
    while not stdout_end and time.monotonic() < deadline:
        rtype, rid, content = gw.client.read_record()
        if rtype == fcgi.STDOUT:
            received += len(content)
            stdout_end = not content
    gw.client.read_record()             # END_REQUEST
    head = len(b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n")
    assert received == count * size + head
    after = rss_peak_kib(gw.process.pid)
    assert (stalled - before) / 1024 < 16, (before, stalled)
    assert (after - before) / 1024 < 16, (before, after)
    ok(gw)


# -- a partial record, then silence ----------------------------------------
# test_timeouts_and_aborts.py: the read timeout on the pipe (WSGI_READ_TIMEOUT,
# read_timeout) ends it; a silence shorter than that is waited out.


# -- limits ------------------------------------------------------------------

def test_params_over_the_limit_end_the_connection(fault_gateway):
    gw = fault_gateway()
    p = params("/")
    p["HTTP_X_HUGE"] = "h" * (1 << 20)
    blob = fcgi.pairs(p)
    try:
        gw.send(fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1, blob))
    except OSError:
        pass                            # the gateway may close first
    assert gw.client.closed(timeout=10)
    assert gw.wait(EXIT_TIMEOUT) == 0
    log = gw.log_text()
    assert "more than 1048576 bytes of parameters" in log
    assert "Traceback" not in log


def test_huge_header_name_and_value_pass_through(fault_gateway):
    gw = fault_gateway()
    p = params("/")
    name = "HTTP_X_" + "N" * 60000
    p[name] = "n"
    p["HTTP_X_BIG"] = "v" * 900000
    response = gw.client.request(p)
    assert response.status == 200
    environ = json.loads(response.body)
    assert environ[name] == "n"
    assert environ["HTTP_X_BIG"] == "v" * 900000
    ok(gw, rid=2)


def test_max_body_from_the_ini(fault_gateway, tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = call:sample_apps:make_router\n\n"
                   "[server:main]\nuse = egg:iiswsgi#iis\nmax_body = 1K\n")
    gw = fault_gateway(args=("-m", "iiswsgi.cli", "serve", str(ini)),
                       handler=None)
    at_limit = b"a" * 1024
    response = gw.client.request(
        params("/echo", method="POST", body=at_limit), at_limit, rid=1)
    assert response.status == 200
    assert json.loads(response.body)["size"] == 1024
    over = b"o" * 1025
    response = gw.client.request(
        params("/echo", method="POST", body=over), over, rid=2)
    assert response.status == 413
    # No CONTENT_LENGTH: cut off when the body passes the limit.
    big = b"c" * 300000
    p = params("/echo", method="POST")
    del p["CONTENT_LENGTH"]
    response = gw.client.request(p, big, rid=3, chunk=1000)
    assert response.status == 413
    response = gw.client.request(params("/"), rid=4)
    assert response.status == 200


# -- headers ------------------------------------------------------------------

BAD_HEADERS = [
    ("X-Test", "a\r\nSet-Cookie: injected=1"),
    ("X-Test", "a\nSet-Cookie: injected=1"),
    ("X-Test", "a\rb"),
    ("X-Test", "a\x00b"),
    ("X-Test\r\nSet-Cookie", "injected=1"),
    ("X-Test\n", "x"),
    ("X-Te\x00st", "x"),
    ("X-Test", "\u20ac"),               # not latin-1
    ("X-T\u00e9st", "x"),
    ("", "x"),
    ("X Test", "x"),
]


@pytest.mark.parametrize("name, value", BAD_HEADERS)
def test_response_header_injection_refused(fault_gateway, name, value):
    gw = fault_gateway()
    query = "name=%s&value=%s" % (quote(name.encode("utf-8"), safe=""),
                                  quote(value.encode("utf-8"), safe=""))
    response = gw.client.request(params("/header", query))
    assert response.status == 500
    assert b"injected" not in response.stdout
    assert b"Set-Cookie" not in response.stdout.split(b"\r\n\r\n")[0]
    ok(gw)


def test_latin1_response_header_allowed(fault_gateway):
    gw = fault_gateway()
    response = gw.client.request(
        params("/header", "name=X-Test&value=caf%C3%A9"))
    assert response.status == 200
    assert b"\r\nX-Test: caf\xe9\r\n" in response.stdout


def test_request_headers_pass_through_unchanged(fault_gateway):
    gw = fault_gateway()
    p = params("/")
    sent = {
        "HTTP_X_SPACED": "  two  spaces\tand a tab  ",
        "HTTP_X_LATIN1": "\xe9\xff\x80\xa0",
        "HTTP_X_EMPTY": "",
        "HTTP_X_COMMAS": "a, b,,c ;q=1",
        "HTTP_COOKIE": "a=1; b=\"x y\"",
    }
    p.update(sent)
    blob = fcgi.pairs((k.encode("latin-1"), v.encode("latin-1"))
                      for k, v in p.items())
    gw.send(fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1, blob)
            + fcgi.stream(fcgi.STDIN, 1, b""))
    environ = json.loads(gw.client.read_response(1).body)
    for name, value in sent.items():
        assert environ[name] == value


# -- SCRIPT_NAME and PATH_INFO under IIS --------------------------------------

PATHS = [
    # UNENCODED_URL, (SCRIPT_NAME, PATH_INFO)
    ("/app/a/../b", ("/app", "/b")),
    ("/app/a/./b/.", ("/app", "/a/b/")),
    ("/APP/x", ("/APP", "/x")),
    ("/app/%2e%2e/other", ("", "/other")),
    ("/app/%2E%2e/%2e%2E/etc", ("", "/etc")),
    ("/app/x%2f..%2f..%2fother", ("", "/other")),
    ("/app%2f..%2fother", ("", "/other")),
    ("/app/%2e/x", ("/app", "/x")),
    ("/app/x/..", ("/app", "/")),
    ("/app/..", ("", "/")),
    ("/app/../app2/y", ("", "/app2/y")),
    ("/app2/y", ("", "/app2/y")),
    ("/appx/y", ("", "/appx/y")),
    ("/app/a%2fb", ("/app", "/a/b")),
    ("/app/%252e%252e/x", ("/app", "/%2e%2e/x")),
    ("/app/a/..%00/b", ("/app", "/a/..\x00/b")),
]


@pytest.mark.parametrize("raw, expected", PATHS)
def test_paths_never_leave_the_application(fault_gateway, raw, expected):
    gw = fault_gateway()
    p = params("/decoded/by/iis", raw_url=raw, app_path="/app")
    environ = json.loads(gw.client.request(p).body)
    script, path_info = environ["SCRIPT_NAME"], environ["PATH_INFO"]
    assert (script, path_info) == expected
    assert script in ("", "/app", "/APP")
    segments = path_info.split("/")[1:]
    assert "." not in segments and ".." not in segments


@pytest.mark.parametrize("params_in, script_name, expected", [
    # IIS without UNENCODED_URL or REQUEST_URI: the split is on the
    # dot-resolved PATH_INFO, at the application's path from APPL_MD_PATH.
    ({"APPL_MD_PATH": "/LM/W3SVC/1/ROOT/app", "PATH_INFO": "/app/../other"},
     None, ("", "/other")),
    ({"APPL_MD_PATH": "/LM/W3SVC/1/ROOT/app", "PATH_INFO": "/app/a/../b"},
     None, ("/app", "/b")),
    ({"APPL_MD_PATH": "/LM/W3SVC/1/ROOT/app", "PATH_INFO": "/APP/./x/"},
     None, ("/APP", "/x/")),
    ({"APPL_MD_PATH": "/LM/W3SVC/1/ROOT/app", "PATH_INFO": "/app/x/.."},
     None, ("/app", "/")),
    # Another web server with the script_name setting: SCRIPT_NAME and
    # PATH_INFO joined, resolved, split again at the setting.
    ({"SCRIPT_NAME": "", "PATH_INFO": "/app/./x/../../y"}, "/app",
     ("", "/y")),
    ({"SCRIPT_NAME": "", "PATH_INFO": "/app/./x/../y"}, "/app",
     ("/app", "/y")),
    ({"SCRIPT_NAME": "/app", "PATH_INFO": "/a/./../b/."}, "/app",
     ("/app", "/b/")),
])
def test_paths_without_a_raw_url_are_normalised(params_in, script_name,
                                                expected):
    environ = build_environ(dict(params_in, REQUEST_METHOD="GET",
                                 SERVER_NAME="h", SERVER_PORT="80",
                                 SERVER_PROTOCOL="HTTP/1.1"), script_name)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == expected


# -- one connection through all of it -----------------------------------------

def test_connection_usable_after_every_kind_of_interruption(
        fault_gateway, fault_markers):
    """The stages above, one after another on one connection."""
    gw = fault_gateway()
    for rid in range(1, 4):
        gw.send(fcgi.begin(rid) + fcgi.record(fcgi.ABORT_REQUEST, rid))
        gw.client.read_response(rid)
        assert gw.client.request(params("/raise-before-first-chunk"),
                                 rid=rid).status == 500
        gw.send(fcgi.record(fcgi.GET_VALUES, 0, fcgi.pairs(
            {"FCGI_MPXS_CONNS": ""})))
        assert gw.client.read_record()[0] == fcgi.GET_VALUES_RESULT
        ok(gw, rid=rid)
    assert gw.process.poll() is None
