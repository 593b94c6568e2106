"""Fault injection against a real gateway process, started as IIS starts
it (tests.support.iis.Gateway), and in-process where that is the only way.

Applications: tests/apps/fault_apps.py.  Every loop here is bounded in
count and time; all traffic is on a socketpair.
"""

import json
import socket
import sys
import time
from urllib.parse import quote

import pytest

from iiswsgi.gateway.environ import build_environ
from tests.support import fcgi
from tests.support.iis import Gateway, iis_params, wait_for

HANDLER = "fault_apps.application"
EXIT_TIMEOUT = 10


@pytest.fixture
def markers(tmp_path):
    folder = tmp_path / "markers"
    folder.mkdir()
    return folder


@pytest.fixture
def start(tmp_path, markers):
    started = []

    def start(args=("-m", "iiswsgi"), handler=HANDLER, env=None):
        environ = {"FAULT_MARKERS": str(markers)}
        if handler:
            environ["WSGI_HANDLER"] = handler
        environ.update(env or {})
        gateway = Gateway(list(args), env=environ, cwd=str(tmp_path),
                          log=tmp_path / "iiswsgi.log")
        started.append(gateway)
        return gateway
    yield start
    for gateway in started:
        gateway.stop()


def params(path="/", query="", raw_url=None, **kw):
    kw.setdefault("physical_path", "/srv/site/")
    return iis_params(path, query=query, raw_url=raw_url, **kw)


def problems(log):
    """Lines of the log at ERROR level or above, and tracebacks."""
    return [line for line in log.splitlines()
            if " ERROR " in line or " CRITICAL " in line
            or line.startswith("Traceback")]


def closed_marker(markers, name, timeout=5):
    path = markers / (name + ".closed")
    wait_for(path.exists, timeout=timeout, what=str(path))
    return path.read_text().count("closed")


def ok(gw, rid=1, path="/next"):
    """A request that must succeed on the same connection."""
    response = gw.client.request(params(path), rid=rid)
    assert response.status == 200, response.stdout[:300]
    assert json.loads(response.body)["PATH_INFO"] == path
    return response


def rss_peak_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


# -- the web server goes away at every stage -----------------------------

def _echo_head(length=100):
    p = params("/echo", method="POST", body=b"")
    p["CONTENT_LENGTH"] = str(length)
    return fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1, fcgi.pairs(p))


CLOSE_STAGES = {
    "after-begin": lambda: fcgi.begin(1),
    "mid-params-between-records": lambda: fcgi.begin(1) + fcgi.record(
        fcgi.PARAMS, 1, fcgi.pairs(params("/echo"))[:200]),
    "mid-params-inside-a-record": lambda: fcgi.begin(1) + fcgi.record(
        fcgi.PARAMS, 1, fcgi.pairs(params("/echo")))[:100],
    "after-params": _echo_head,
    "mid-stdin-between-records": lambda: _echo_head()
    + fcgi.record(fcgi.STDIN, 1, b"x" * 40),
}


@pytest.mark.parametrize("stage", sorted(CLOSE_STAGES) + [
    "mid-stdin-inside-a-record"])
def test_pipe_closed_at_every_stage(start, stage):
    gw = start()
    if stage == "mid-stdin-inside-a-record":
        data = _echo_head() + fcgi.record(fcgi.STDIN, 1, b"x" * 40)[:20]
    else:
        data = CLOSE_STAGES[stage]()
    gw.send(data)
    time.sleep(0.3)         # let the gateway reach that stage
    gw.close_pipe()
    assert gw.wait(EXIT_TIMEOUT) == 0
    log = gw.log_text()
    assert problems(log) == [], log
    assert "exiting after" in log


def test_pipe_closed_while_the_app_streams(start, markers):
    gw = start()
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
    assert closed_marker(markers, "stream") == 1


# -- FCGI_ABORT_REQUEST at every stage ----------------------------------------

def test_abort_before_the_params_end(start):
    gw = start()
    gw.send(fcgi.begin(1) + fcgi.record(fcgi.PARAMS, 1, fcgi.pairs(
        params("/echo"))[:50]) + fcgi.record(fcgi.ABORT_REQUEST, 1))
    response = gw.client.read_response(1)
    assert response.stdout == b"" and response.protocol_status == 0
    ok(gw, rid=2)
    ok(gw, rid=1)


def test_abort_right_after_begin(start):
    gw = start()
    gw.send(fcgi.begin(1) + fcgi.record(fcgi.ABORT_REQUEST, 1))
    assert gw.client.read_response(1).stdout == b""
    ok(gw, rid=1)


def test_abort_in_the_middle_of_the_body(start, markers):
    gw = start()
    gw.send(_echo_head(1000) + fcgi.record(fcgi.STDIN, 1, b"b" * 300)
            + fcgi.record(fcgi.ABORT_REQUEST, 1))
    response = gw.client.read_response(1)
    assert response.protocol_status == 0
    ok(gw, rid=2)
    assert problems(gw.log_text()) == []



def test_an_aborted_body_is_not_a_clean_end(start, markers):
    gw = start()
    p = params("/store", method="POST")
    p["CONTENT_LENGTH"] = "1000"
    gw.send(fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1, fcgi.pairs(p))
            + fcgi.record(fcgi.STDIN, 1, b"u" * 300))
    time.sleep(0.3)                     # the application is reading
    gw.send(fcgi.record(fcgi.ABORT_REQUEST, 1))
    gw.client.read_response(1)
    ok(gw, rid=2)
    stored = markers / "store.size"
    assert not stored.exists(), "the application stored %s bytes of 1000" % (
        stored.read_text().strip())


def test_abort_after_the_body_while_the_app_is_slow(start, markers):
    gw = start()
    gw.send(fcgi.request(1, params("/read-then-slow", "delay=0.5"), b"abc")
            + fcgi.record(fcgi.ABORT_REQUEST, 1))
    response = gw.client.read_response(1)
    # The abort is read once the application is done: the response may
    # have gone out whole; either way the request ends once.
    assert response.stdout_ends == 1
    assert sum(1 for t, _, _ in response.records
               if t == fcgi.END_REQUEST) == 1
    assert closed_marker(markers, "slow") == 1
    ok(gw, rid=1)
    assert problems(gw.log_text()) == []


def test_abort_after_the_response(start):
    gw = start()
    ok(gw, rid=1, path="/first")
    gw.send(fcgi.record(fcgi.ABORT_REQUEST, 1))
    response = ok(gw, rid=1, path="/second")
    # No stray END_REQUEST for the abort of a finished request.
    assert [t for t, _, _ in response.records].count(fcgi.END_REQUEST) == 1
    ok(gw, rid=3, path="/third")


# -- the application fails -----------------------------------------------

def test_raise_in_start_response(start):
    gw = start()
    response = gw.client.request(params("/raise-in-start-response"))
    assert response.status == 500
    ok(gw)
    assert "bad response header name" in gw.log_text()


def test_raise_in_iterator_before_the_first_chunk(start, markers):
    gw = start()
    response = gw.client.request(params("/raise-before-first-chunk"))
    assert response.status == 500
    assert b"never" not in response.body
    assert closed_marker(markers, "before") == 1
    ok(gw)
    assert "before the first chunk" in gw.log_text()


def test_raise_in_iterator_after_the_first_chunk(start, markers):
    gw = start()
    response = gw.client.request(params("/raise-after-first-chunk"))
    # The head went out: the response is cut short, not turned into a 500.
    assert response.status == 200
    assert response.body == b"first chunk;"
    assert int(response.header("Content-Length")) > len(response.body)
    assert response.stdout_ends == 1 and response.protocol_status == 0
    assert closed_marker(markers, "after") == 1
    ok(gw)
    log = gw.log_text()
    assert "after a chunk" in log and "cut short" in log


@pytest.mark.parametrize("path, name, body", [
    ("/raise-in-close", "close", b"all of the body"),
    ("/raise-in-close-before-body", "close-empty", b"")])
def test_raise_in_close(start, markers, path, name, body):
    gw = start()
    response = gw.client.request(params(path))
    assert response.status == 200
    assert response.body == body
    assert closed_marker(markers, name) == 1
    ok(gw)
    assert "close failed on purpose" in gw.log_text()


def test_close_called_when_the_web_server_aborts_a_stream(start, markers):
    gw = start()
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
    assert closed_marker(markers, "stream") == 1
    ok(gw)


# -- a reader that does not read --------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_slow_reader_keeps_memory_bounded(start):
    gw = start()
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

def test_params_over_the_limit_end_the_connection(start):
    gw = start()
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


def test_huge_header_name_and_value_pass_through(start):
    gw = start()
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


def test_max_body_from_the_ini(start, tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = call:sample_apps:make_router\n\n"
                   "[server:main]\nuse = egg:iiswsgi#iis\nmax_body = 1K\n")
    gw = start(args=("-m", "iiswsgi.cli", "serve", str(ini)), handler=None)
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
def test_response_header_injection_refused(start, name, value):
    gw = start()
    query = "name=%s&value=%s" % (quote(name.encode("utf-8"), safe=""),
                                  quote(value.encode("utf-8"), safe=""))
    response = gw.client.request(params("/header", query))
    assert response.status == 500
    assert b"injected" not in response.stdout
    assert b"Set-Cookie" not in response.stdout.split(b"\r\n\r\n")[0]
    ok(gw)


def test_latin1_response_header_allowed(start):
    gw = start()
    response = gw.client.request(
        params("/header", "name=X-Test&value=caf%C3%A9"))
    assert response.status == 200
    assert b"\r\nX-Test: caf\xe9\r\n" in response.stdout


def test_request_headers_pass_through_unchanged(start):
    gw = start()
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
def test_paths_never_leave_the_application(start, raw, expected):
    gw = start()
    p = params("/decoded/by/iis", raw_url=raw, app_path="/app")
    environ = json.loads(gw.client.request(p).body)
    script, path_info = environ["SCRIPT_NAME"], environ["PATH_INFO"]
    assert (script, path_info) == expected
    assert script in ("", "/app", "/APP")
    segments = path_info.split("/")[1:]
    assert "." not in segments and ".." not in segments



@pytest.mark.parametrize("params_in, script_name", [
    ({"APPL_MD_PATH": "/LM/W3SVC/1/ROOT/app", "PATH_INFO": "/app/../other"},
     None),
    ({"SCRIPT_NAME": "", "PATH_INFO": "/app/./x/../../y"}, "/app"),
])
def test_paths_without_a_raw_url_are_normalised(params_in, script_name):
    environ = build_environ(dict(params_in, REQUEST_METHOD="GET",
                                 SERVER_NAME="h", SERVER_PORT="80",
                                 SERVER_PROTOCOL="HTTP/1.1"), script_name)
    segments = environ["PATH_INFO"].split("/")[1:]
    assert "." not in segments and ".." not in segments


# -- one connection through all of it -----------------------------------------

def test_connection_usable_after_every_kind_of_interruption(start, markers):
    """The stages above, one after another on one connection."""
    gw = start()
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
