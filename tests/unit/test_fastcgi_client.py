"""FastCGI's web-server side (ClientConnection): the bytes it writes, pinned
to the specification; the events it reads; every record an application
must not send; and round trips against the application's side
(Connection), all in memory."""

import struct

import pytest

from iiswsgi.errors import IISWSGIError
from iiswsgi.protocol import fastcgi
from iiswsgi.protocol.fastcgi import (
    CLOSED, NEED_DATA, Abort, Body, BodyEnd, ClientConnection, Connection,
    EndRequest, ProtocolError, Request, Stderr, Stdout, UnknownTypeResult,
    ValuesResult)


def header(rtype, rid, clen, plen=0, version=1):
    # Written out from the specification's FCGI_Header, not from the code.
    return bytes((version, rtype, rid >> 8, rid & 0xFF, clen >> 8,
                  clen & 0xFF, plen, 0))


def end_body(app_status=0, protocol_status=0):
    return struct.pack(">IB3x", app_status, protocol_status)


def events_of(conn, data, eof=False):
    conn.receive_data(data)
    if eof:
        conn.receive_data(b"")
    out = []
    while True:
        event = conn.next_event()
        out.append(event)
        if event is NEED_DATA or event is CLOSED:
            return out


def begun(rid=1, keep_conn=True):
    conn = ClientConnection()
    conn.request(rid, {"A": "b"}, keep_conn=keep_conn)
    return conn


# -- the bytes sent ---------------------------------------------------------

def test_begin_request_bytes():
    conn = ClientConnection()
    assert conn.begin_request(1) == header(1, 1, 8) + bytes(
        (0, 1, 1, 0, 0, 0, 0, 0))
    assert conn.begin_request(258, fastcgi.AUTHORIZER, keep_conn=False) == \
        header(1, 258, 8) + bytes((0, 2, 0, 0, 0, 0, 0, 0))


def test_params_bytes_short_and_long_lengths():
    conn = ClientConnection()
    conn.begin_request(1)
    long_value = "v" * 200
    data = conn.send_params(1, {"AB": "c", "L": long_value})
    pairs = (b"\x02\x01ABc" + b"\x01\x80\x00\x00\xc8L" + b"v" * 200)
    assert data == header(4, 1, len(pairs)) + pairs + header(4, 1, 0)


def test_params_text_is_utf8_and_bytes_as_given():
    conn = ClientConnection()
    conn.begin_request(1)
    data = conn.send_params(1, [("P", "é"), (b"Q", b"\xe9")])
    assert data == (header(4, 1, 9) + b"\x01\x02P\xc3\xa9" + b"\x01\x01Q\xe9"
                    + header(4, 1, 0))


def test_params_split_at_65535_bytes():
    conn = ClientConnection()
    conn.begin_request(1)
    big = "x" * 100000
    data = conn.send_params(1, {"BIG": big})
    pairs = fastcgi.encode_pairs([(b"BIG", big.encode())])
    assert data == (header(4, 1, 65535) + pairs[:65535]
                    + header(4, 1, len(pairs) - 65535) + pairs[65535:]
                    + header(4, 1, 0))


@pytest.mark.parametrize("size", [1, 65535, 65536, 140000])
def test_stdin_split_into_records(size):
    conn = ClientConnection()
    conn.begin_request(3)
    conn.send_params(3, {})
    data = conn.send_stdin(3, b"s" * size)
    expected = b""
    for start in range(0, size, 65535):
        piece = min(65535, size - start)
        expected += header(5, 3, piece) + b"s" * piece
    assert data == expected
    assert conn.send_stdin(3, b"") == header(5, 3, 0)


def test_empty_params_and_whole_request():
    conn = ClientConnection()
    data = conn.request(2, {}, b"body", keep_conn=False)
    assert data == (header(1, 2, 8) + bytes((0, 1, 0, 0, 0, 0, 0, 0))
                    + header(4, 2, 0) + header(5, 2, 4) + b"body"
                    + header(5, 2, 0))


def test_request_without_body_has_only_the_empty_stdin():
    data = ClientConnection().request(1, {"A": "b"})
    assert data.endswith(header(4, 1, 0) + header(5, 1, 0))
    assert data.count(header(5, 1, 0)) == 1


def test_abort_get_values_and_data_bytes():
    conn = begun(5)
    assert conn.abort_request(5) == header(2, 5, 0)
    assert conn.get_values(["FCGI_MAX_CONNS", "FCGI_MPXS_CONNS"]) == (
        header(9, 0, 33) + b"\x0e\x00FCGI_MAX_CONNS\x0f\x00FCGI_MPXS_CONNS")
    assert conn.send_data(5, b"dd") == header(8, 5, 2) + b"dd"
    assert conn.send_data(5, b"") == header(8, 5, 0)


# -- misuse by the caller ----------------------------------------------------

@pytest.mark.parametrize("rid", [0, -1, 65536, "1"])
def test_bad_request_ids(rid):
    with pytest.raises(ValueError, match="request ids are 1 to 65535"):
        ClientConnection().begin_request(rid)


def test_sending_for_a_request_not_begun():
    conn = ClientConnection()
    for send in (lambda: conn.send_params(1, {}),
                 lambda: conn.send_stdin(1, b"x"),
                 lambda: conn.abort_request(1),
                 lambda: conn.send_data(1, b"")):
        with pytest.raises(RuntimeError, match="was not begun"):
            send()


def test_stream_order_is_enforced():
    conn = ClientConnection()
    conn.begin_request(1)
    with pytest.raises(RuntimeError, match="before its parameters"):
        conn.send_stdin(1, b"x")
    conn.send_params(1, {})
    with pytest.raises(RuntimeError, match="PARAMS of request 1 have"):
        conn.send_params(1, {})
    conn.send_stdin(1, b"")
    with pytest.raises(RuntimeError, match="STDIN of request 1 has"):
        conn.send_stdin(1, b"more")


def test_a_request_is_begun_again_only_once_it_is_over():
    conn = begun(1)
    with pytest.raises(RuntimeError, match="still active"):
        conn.begin_request(1)
    events_of(conn, header(6, 1, 0) + header(3, 1, 8) + end_body())
    conn.begin_request(1)       # ended by the application: reusable


def test_abort_twice_or_after_the_end():
    conn = begun(1)
    conn.abort_request(1)
    with pytest.raises(RuntimeError, match="already aborted"):
        conn.abort_request(1)
    events_of(conn, header(3, 1, 8) + end_body())
    with pytest.raises(RuntimeError, match="already ended"):
        conn.abort_request(1)
    conn.begin_request(1)       # aborted and ended: over


def test_body_may_go_on_after_the_application_answered():
    # The application may answer before reading the body: the web server
    # still sends the rest, and cannot reuse the id before the body ends.
    conn = ClientConnection()
    conn.begin_request(1)
    conn.send_params(1, {})
    conn.send_stdin(1, b"part")
    events_of(conn, header(6, 1, 0) + header(3, 1, 8) + end_body())
    assert conn.send_stdin(1, b"rest") == header(5, 1, 4) + b"rest"
    with pytest.raises(RuntimeError, match="still active"):
        conn.begin_request(1)
    conn.send_stdin(1, b"")
    conn.begin_request(1)


def test_get_values_must_fit_one_record():
    with pytest.raises(ValueError, match="does not fit in one record"):
        ClientConnection().get_values(["N" * 70000])


# -- events read ------------------------------------------------------------

def test_answer_events_and_equality():
    conn = begun(1)
    data = (header(6, 1, 5) + b"hello" + header(7, 1, 3) + b"err"
            + header(6, 1, 0) + header(3, 1, 8) + end_body(7, 0))
    assert events_of(conn, data) == [
        Stdout(1, b"hello"), Stderr(1, b"err"), Stdout(1, b""),
        EndRequest(1, 7, 0), NEED_DATA]
    assert conn.unfinished == []
    assert conn.buffered == 0


def test_padding_is_skipped():
    conn = begun(1)
    data = (header(6, 1, 2, plen=6) + b"ok" + bytes(6)
            + header(3, 1, 8, plen=3) + end_body() + bytes(3))
    assert events_of(conn, data) == [Stdout(1, b"ok"), EndRequest(1, 0, 0),
                                     NEED_DATA]


def test_byte_at_a_time_gives_the_same_events():
    data = (header(6, 1, 300) + b"o" * 300 + header(7, 1, 1, plen=2)
            + b"e\0\0" + header(6, 1, 0) + header(3, 1, 8) + end_body(1))
    conn = begun(1)
    events = []
    for i in range(len(data)):
        events += [e for e in events_of(conn, data[i:i + 1])
                   if e is not NEED_DATA]
    assert events == [Stdout(1, b"o" * 300), Stderr(1, b"e"),
                      Stdout(1, b""), EndRequest(1, 1, 0)]


def test_data_after_an_empty_stdout_is_read_as_iis_reads_it():
    # wfastcgi ends every write with an empty FCGI_STDOUT; IIS reads on.
    conn = begun(1)
    data = (header(6, 1, 1) + b"a" + header(6, 1, 0) + header(6, 1, 1)
            + b"b" + header(6, 1, 0) + header(3, 1, 8) + end_body())
    assert events_of(conn, data)[:4] == [Stdout(1, b"a"), Stdout(1, b""),
                                         Stdout(1, b"b"), Stdout(1, b"")]


def test_values_result():
    conn = ClientConnection()
    conn.get_values(["FCGI_MAX_CONNS"])
    pairs = b"\x0e\x01FCGI_MAX_CONNS1"
    assert events_of(conn, header(10, 0, len(pairs)) + pairs) == [
        ValuesResult({"FCGI_MAX_CONNS": "1"}), NEED_DATA]


def test_unknown_type_result():
    conn = ClientConnection()
    assert events_of(conn, header(11, 0, 8) + bytes((42,)) + bytes(7)) == [
        UnknownTypeResult(42), NEED_DATA]


def test_closed_between_records_and_unfinished_requests():
    conn = begun(1)
    assert events_of(conn, header(6, 1, 1) + b"x", eof=True) == [
        Stdout(1, b"x"), CLOSED]
    assert conn.peer_closed
    assert conn.unfinished == [1]
    with pytest.raises(RuntimeError, match="after end of file"):
        conn.receive_data(b"more")


def test_multiplexed_requests_and_a_refusal():
    conn = ClientConnection()
    conn.request(1, {})
    conn.request(2, {})
    data = (header(3, 2, 8) + end_body(0, fastcgi.CANT_MPX_CONN)
            + header(6, 1, 2) + b"ok" + header(3, 1, 8) + end_body())
    assert events_of(conn, data) == [
        EndRequest(2, 0, fastcgi.CANT_MPX_CONN), Stdout(1, b"ok"),
        EndRequest(1, 0, 0), NEED_DATA]


# -- what an application must not send ------------------------------------------

def test_protocol_error_is_an_iiswsgi_error():
    assert issubclass(ProtocolError, IISWSGIError)


@pytest.mark.parametrize("data, message", [
    (header(6, 1, 0, version=0), "byte 0: version 0, expected 1"),
    (header(6, 1, 0, version=2), "version 2"),
    (header(1, 1, 8) + bytes(8), "FCGI_BEGIN_REQUEST is sent by web servers"),
    (header(2, 1, 0), "FCGI_ABORT_REQUEST is sent by web servers"),
    (header(4, 1, 0), "FCGI_PARAMS is sent by web servers"),
    (header(5, 1, 0), "FCGI_STDIN is sent by web servers"),
    (header(8, 1, 0), "FCGI_DATA is sent by web servers"),
    (header(9, 0, 0), "FCGI_GET_VALUES is sent by web servers"),
    (header(0, 1, 0), "type 0 is not one FastCGI 1.0 defines"),
    (header(12, 0, 0), "type 12 is not one"),
    (header(6, 0, 0), "FCGI_STDOUT with request id 0"),
    (header(7, 0, 0), "FCGI_STDERR with request id 0"),
    (header(3, 0, 8) + end_body(), "FCGI_END_REQUEST with request id 0"),
    (header(10, 1, 0), "FCGI_GET_VALUES_RESULT with request id 1"),
    (header(3, 1, 9) + end_body() + b"x",
     "FCGI_END_REQUEST with 9 bytes of content, expected 8"),
    (header(3, 1, 4) + b"\0\0\0\0",
     "FCGI_END_REQUEST with 4 bytes of content"),
    (header(11, 0, 1) + b"\x2a", "FCGI_UNKNOWN_TYPE with 1 bytes"),
    (header(3, 1, 8) + end_body(0, 4), "protocol status 4"),
    (header(6, 9, 1) + b"x", "FCGI_STDOUT for request 9, which was never"),
])
def test_forbidden_records(data, message):
    conn = begun(1)
    conn.get_values(["FCGI_MAX_CONNS"])
    conn.receive_data(data)
    with pytest.raises(ProtocolError, match=message):
        conn.next_event()


def test_a_bad_header_is_refused_before_its_content_arrives():
    conn = begun(1)
    conn.receive_data(header(6, 1, 1000, version=3))
    with pytest.raises(ProtocolError, match="version 3"):
        conn.next_event()


def test_stdout_after_end_request():
    conn = begun(1)
    conn.receive_data(header(3, 1, 8) + end_body() + header(6, 1, 1) + b"x")
    assert conn.next_event() == EndRequest(1, 0, 0)
    with pytest.raises(ProtocolError, match="byte 16: FCGI_STDOUT for"
                       " request 1, which has ended"):
        conn.next_event()


def test_end_request_twice():
    conn = begun(1)
    conn.receive_data((header(3, 1, 8) + end_body()) * 2)
    conn.next_event()
    with pytest.raises(ProtocolError, match="FCGI_END_REQUEST for request"
                       " 1, which has ended"):
        conn.next_event()


def test_records_after_a_request_without_keep_conn():
    conn = begun(1, keep_conn=False)
    conn.receive_data(header(3, 1, 8) + end_body() + header(11, 0, 8)
                      + bytes(8))
    assert conn.next_event() == EndRequest(1, 0, 0)
    with pytest.raises(ProtocolError, match="begun without FCGI_KEEP_CONN"):
        conn.next_event()


def test_end_without_keep_conn_then_close_is_right():
    conn = begun(1, keep_conn=False)
    assert events_of(conn, header(3, 1, 8) + end_body(), eof=True) == [
        EndRequest(1, 0, 0), CLOSED]


@pytest.mark.parametrize("cut", [1, 7, 8, 12])
def test_closed_in_the_middle_of_a_record(cut):
    conn = begun(1)
    conn.receive_data((header(6, 1, 10) + b"0123456789")[:cut])
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    with pytest.raises(ProtocolError, match="in the middle of a record"
                       " \\(%d bytes of it received, at byte 0\\)" % cut):
        conn.next_event()


def test_unasked_values_result():
    conn = ClientConnection()
    conn.receive_data(header(10, 0, 0))
    with pytest.raises(ProtocolError, match="no FCGI_GET_VALUES was sent"):
        conn.next_event()


def test_values_result_with_a_pair_past_its_content():
    conn = ClientConnection()
    conn.get_values(["X"])
    conn.receive_data(header(10, 0, 3) + b"\x05\x01X")
    with pytest.raises(ProtocolError, match="FCGI_GET_VALUES_RESULT at byte"
                       " 0: name-value pair"):
        conn.next_event()


def test_untracked_connection_takes_answers_to_hand_made_requests():
    # A test writing its own records: answers to requests it began by hand
    # are read, ids reused; the checks on the records themselves remain.
    conn = ClientConnection(track_requests=False)
    answer = header(6, 4, 1) + b"x" + header(3, 4, 8) + end_body()
    assert events_of(conn, answer * 2 + header(10, 0, 0)) == [
        Stdout(4, b"x"), EndRequest(4, 0, 0), Stdout(4, b"x"),
        EndRequest(4, 0, 0), ValuesResult({}), NEED_DATA]
    conn.receive_data(header(6, 1, 0, version=2))
    with pytest.raises(ProtocolError, match="version 2"):
        conn.next_event()


# -- round trips against the application's side -------------------------------

def pump(client, app, data):
    """Feed ``data`` to the application; return its events and what it
    answered on its own."""
    app.receive_data(data)
    events = []
    while True:
        event = app.next_event()
        if event is NEED_DATA or event is CLOSED:
            return events, app.data_to_send()
        events.append(event)


def test_round_trip_request_and_answer():
    client, app = ClientConnection(), Connection()
    params = {"REQUEST_METHOD": "POST", "PATH_INFO": "/x", "BIG": "b" * 70000}
    events, _ = pump(client, app, client.request(1, params, b"x" * 100000))
    request = events[0]
    assert isinstance(request, Request)
    assert (request.request_id, request.role, request.keep_conn) == \
        (1, fastcgi.RESPONDER, True)
    assert request.params == params
    assert b"".join(e.data for e in events if isinstance(e, Body)) == \
        b"x" * 100000
    assert isinstance(events[-1], BodyEnd)
    answer = (app.send_stdout(b"Status: 200 OK\r\n\r\n" + b"o" * 70000)
              + app.send_stderr(b"warn") + app.end_request(3))
    got = events_of(client, answer)
    assert b"".join(e.data for e in got if isinstance(e, Stdout)) == \
        b"Status: 200 OK\r\n\r\n" + b"o" * 70000
    assert Stderr(1, b"warn") in got
    assert got[-2:] == [EndRequest(1, 3, 0), NEED_DATA]
    # The id is free again: a second request on the same connection.
    events, _ = pump(client, app, client.request(1, {"N": "2"}))
    assert events[0].params == {"N": "2"}
    assert events_of(client, app.end_request())[-2] == EndRequest(1, 0, 0)


def test_round_trip_abort():
    client, app = ClientConnection(), Connection()
    data = client.begin_request(1) + client.send_params(1, {"A": "b"})
    pump(client, app, data)
    events, _ = pump(client, app, client.send_stdin(1, b"part")
                     + client.abort_request(1))
    assert isinstance(events[-1], Abort)
    assert events_of(client, app.end_request(1))[-2] == EndRequest(1, 1, 0)
    client.begin_request(1)


def test_round_trip_get_values_and_refusals():
    client, app = ClientConnection(), Connection(max_conns=4)
    _, reply = pump(client, app, client.get_values(
        ["FCGI_MAX_CONNS", "FCGI_MPXS_CONNS", "NOT_A_VALUE"]))
    assert events_of(client, reply) == [
        ValuesResult({"FCGI_MAX_CONNS": "4", "FCGI_MPXS_CONNS": "0"}),
        NEED_DATA]
    # A role not served, then a second request while one is active.
    _, reply = pump(client, app, client.begin_request(3, fastcgi.FILTER))
    pump(client, app, client.request(1, {}))
    _, reply2 = pump(client, app, client.begin_request(2))
    assert events_of(client, reply + reply2) == [
        EndRequest(3, 0, fastcgi.UNKNOWN_ROLE),
        EndRequest(2, 0, fastcgi.CANT_MPX_CONN), NEED_DATA]
    assert client.unfinished == [1]


def test_round_trip_without_keep_conn():
    client, app = ClientConnection(), Connection()
    pump(client, app, client.request(1, {}, keep_conn=False))
    assert events_of(client, app.end_request()) == [
        Stdout(1, b""), EndRequest(1, 0, 0), NEED_DATA]
    assert app.must_close
