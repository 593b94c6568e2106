"""The read timeout on the IIS pipe, and aborts seen while a response
streams: against a real gateway process started as IIS starts it
(tests.support.iis.Gateway), in the style of test_faults.py.

Applications: tests/apps/fault_apps.py and stream_apps.py here (which
record how many chunks they made before they were closed).
"""

import json
import socket
import time

import pytest

from tests.reliability.fault_support import (
    EXIT_TIMEOUT, echo_head, ok, params, problems)
from tests.support import fcgi
from tests.support.iis import wait_for

STREAMS = "tests.reliability.stream_apps.application"


def timed(fault_gateway, seconds=1, **kw):
    """A gateway whose read timeout is ``seconds`` (WSGI_READ_TIMEOUT)."""
    env = dict(kw.pop("env", {}), WSGI_READ_TIMEOUT=str(seconds))
    return fault_gateway(env=env, **kw)


def ends_by_timeout(gw, within=EXIT_TIMEOUT):
    """The gateway exits 0 on its own, saying why, with no error logged."""
    began = time.monotonic()
    assert gw.wait(within) == 0
    log = gw.log_text()
    assert "sent nothing for 1.0 s in the middle of a request" in log, log
    assert "went silent in the middle of a request" in log, log
    assert problems(log) == [], log
    return time.monotonic() - began


def produced(fault_markers, name, timeout=5):
    path = fault_markers / (name + ".count")
    wait_for(path.exists, timeout=timeout, what=str(path))
    return [int(n) for n in path.read_text().split()]


# -- the read timeout on the pipe -------------------------------------------

SILENT_STAGES = {
    "inside-the-first-header": lambda: fcgi.begin(1)[:5],
    "after-begin": lambda: fcgi.begin(1),
    "inside-a-params-record": lambda: fcgi.begin(1) + fcgi.record(
        fcgi.PARAMS, 1, fcgi.pairs(params("/")))[:300],
    "between-params-records": lambda: fcgi.begin(1) + fcgi.record(
        fcgi.PARAMS, 1, fcgi.pairs(params("/"))),
    "body-while-the-app-reads": lambda: echo_head(1000)
    + fcgi.record(fcgi.STDIN, 1, b"x" * 100),
    "inside-a-body-record": lambda: echo_head(1000)
    + fcgi.record(fcgi.STDIN, 1, b"x" * 100)[:50],
}


@pytest.mark.parametrize("stage", sorted(SILENT_STAGES))
def test_silence_in_the_middle_of_a_request_ends_the_process(
        fault_gateway, stage):
    gw = timed(fault_gateway)
    gw.send(SILENT_STAGES[stage]())
    waited = ends_by_timeout(gw)
    assert waited < 5, waited
    # Nothing half-answered: the request got no response at all, or (the
    # application was reading its body) none but its end.
    gw.parent.settimeout(1)
    data = b""
    try:
        while True:
            chunk = gw.parent.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    assert b"Status:" not in data and b"HTTP/" not in data


def test_silence_after_a_request_partly_came_ends_the_process_from_an_ini(
        fault_gateway, tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = call:sample_apps:make_router\n\n"
                   "[server:main]\nuse = egg:iiswsgi#iis\nread_timeout = 1\n")
    gw = fault_gateway(args=("-m", "iiswsgi.cli", "serve", str(ini)),
                       handler=None)
    assert gw.client.request(params("/")).status == 200
    gw.send(fcgi.begin(2))
    ends_by_timeout(gw)


def test_idle_between_requests_is_never_timed(fault_gateway):
    """IIS keeps the pipe silent for as long as no request comes."""
    gw = timed(fault_gateway)
    time.sleep(2.5)                     # before the first request
    ok(gw, rid=1)
    time.sleep(2.5)                     # between two requests
    ok(gw, rid=2)
    assert gw.process.poll() is None
    assert "sent nothing" not in gw.log_text()


def test_a_body_that_keeps_coming_is_not_cut(fault_gateway):
    """Each gap is below the timeout, their sum well above it."""
    gw = timed(fault_gateway)
    gw.send(echo_head(400))
    for _ in range(4):
        time.sleep(0.6)
        gw.send(fcgi.record(fcgi.STDIN, 1, b"y" * 100))
    gw.send(fcgi.record(fcgi.STDIN, 1))
    response = gw.client.read_response(1)
    assert response.status == 200 and response.body == b"y" * 400
    ok(gw, rid=2)


@pytest.mark.parametrize("value", [None, "0", "not-a-number"])
def test_shorter_silences_are_waited_out(fault_gateway, value):
    """Under the default (60 s), with the timeout off, or with a malformed
    setting (the default then): a web server that stops in the middle of a
    record and goes on 2 s later is served."""
    gw = fault_gateway() if value is None else timed(fault_gateway, value)
    data = fcgi.request(1, params("/after-silence"))
    gw.send(data[:5])
    time.sleep(2.0)
    assert gw.process.poll() is None
    gw.send(data[5:])
    response = gw.client.read_response(1)
    assert json.loads(response.body)["PATH_INFO"] == "/after-silence"
    if value == "not-a-number":
        assert "ignoring WSGI_READ_TIMEOUT='not-a-number'" in gw.log_text()


# -- aborts while a response streams ------------------------------------------

def streams_ok(gw, rid):
    """A short stream that must come whole on the same connection."""
    response = gw.client.request(params("/short", "count=3&delay=0"),
                                 rid=rid)
    assert response.status == 200 and len(response.body) == 3 * 64


def _first_chunk_then(gw, action, rid=1):
    rtype, got, content = gw.client.read_record()
    assert (rtype, got) == (fcgi.STDOUT, rid) and content
    action()


def test_abort_stops_the_stream_between_chunks(fault_gateway, fault_markers):
    gw = fault_gateway(handler=STREAMS)
    gw.send(fcgi.request(1, params("/stream", "count=500&delay=0.01")))
    _first_chunk_then(gw, lambda: gw.send(fcgi.record(fcgi.ABORT_REQUEST, 1)))
    response = gw.client.read_response(1)
    assert [t for t, _, _ in response.records].count(fcgi.END_REQUEST) == 1
    assert response.stdout_ends == 1 and response.protocol_status == 0
    (count,) = produced(fault_markers, "stream")
    assert count < 100, count           # not the 500 asked for
    streams_ok(gw, rid=1)
    log = gw.log_text()
    assert "aborted the request during the response to GET /stream" in log
    assert problems(log) == [], log


def test_abort_behind_an_unread_body_stops_the_stream(
        fault_gateway, fault_markers):
    """The application streams without reading its body: the abort comes
    behind body records, which must still be there for wsgi.input."""
    gw = fault_gateway(handler=STREAMS)
    p = params("/stream", method="POST")
    p["CONTENT_LENGTH"] = "100000"
    gw.send(fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1, fcgi.pairs(p))
            + fcgi.record(fcgi.STDIN, 1, b"z" * 3000))
    _first_chunk_then(gw, lambda: gw.send(
        fcgi.record(fcgi.STDIN, 1, b"z" * 3000)
        + fcgi.record(fcgi.ABORT_REQUEST, 1)))
    response = gw.client.read_response(1)
    assert [t for t, _, _ in response.records].count(fcgi.END_REQUEST) == 1
    (count,) = produced(fault_markers, "stream")
    assert count < 100, count
    streams_ok(gw, rid=2)
    streams_ok(gw, rid=1)
    assert problems(gw.log_text()) == []


def test_abort_after_the_body_was_read_stops_the_stream(
        fault_gateway, fault_markers):
    gw = fault_gateway(handler=STREAMS)
    gw.send(fcgi.request(1, params("/read-body-then-stream", "count=500",
                                   method="POST", body=b"b" * 5000),
                         b"b" * 5000))
    _first_chunk_then(gw, lambda: gw.send(fcgi.record(fcgi.ABORT_REQUEST, 1)))
    gw.client.read_response(1)
    (count,) = produced(fault_markers, "read-body-then-stream")
    assert count < 100, count
    streams_ok(gw, rid=2)


def test_abort_stops_an_application_that_uses_write(
        fault_gateway, fault_markers):
    gw = fault_gateway(handler=STREAMS)
    gw.send(fcgi.request(1, params("/write", "count=500&delay=0.01")))
    _first_chunk_then(gw, lambda: gw.send(fcgi.record(fcgi.ABORT_REQUEST, 1)))
    response = gw.client.read_response(1)
    assert [t for t, _, _ in response.records].count(fcgi.END_REQUEST) == 1
    (count,) = produced(fault_markers, "write")
    assert count < 100, count
    streams_ok(gw, rid=2)
    log = gw.log_text()
    assert "ended early" in log and problems(log) == [], log


def test_web_server_closing_its_side_stops_the_stream(
        fault_gateway, fault_markers):
    """The web server shuts down its sending side (end of file on the
    pipe) while the application streams: the iterator is closed at once,
    not run to its end, and the process exits 0."""
    gw = fault_gateway(handler=STREAMS)
    gw.send(fcgi.request(1, params("/stream", "count=500&delay=0.01")))
    _first_chunk_then(gw, lambda: gw.parent.shutdown(socket.SHUT_WR))
    assert gw.wait(EXIT_TIMEOUT) == 0
    (count,) = produced(fault_markers, "stream")
    assert count < 100, count
    log = gw.log_text()
    assert "closed the connection during the response" in log, log
    assert problems(log) == [], log


def test_an_unaborted_stream_runs_to_its_end(fault_gateway, fault_markers):
    """The look for an abort between chunks costs nothing visible: a
    stream whose request is not aborted is whole."""
    gw = fault_gateway(handler=STREAMS)
    response = gw.client.request(params("/stream", "count=2000&delay=0"),
                                 b"")
    assert len(response.body) == 2000 * 64
    assert produced(fault_markers, "stream") == [2000]
    # With the web server sending other records meanwhile (FCGI_GET_VALUES
    # is answered once the request is over).
    gw.send(fcgi.request(2, params("/stream", "count=300&delay=0.002"))
            + fcgi.record(fcgi.GET_VALUES, 0, fcgi.pairs(
                {"FCGI_MPXS_CONNS": ""})))
    response = gw.client.read_response(2)
    assert len(response.body) == 300 * 64
    assert gw.client.read_record()[0] == fcgi.GET_VALUES_RESULT
