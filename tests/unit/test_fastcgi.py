"""The FastCGI core, rule by rule, against the test client's encoder."""

import struct
import tracemalloc

import pytest

from iiswsgi.protocol import fastcgi
from iiswsgi.protocol.fastcgi import (CLOSED, NEED_DATA, Abort, Body, BodyEnd,
                             Connection, ProtocolError, Request)
from tests.support import fcgi as peer


def feed(conn, data):
    conn.receive_data(data)
    events = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA or event is CLOSED:
            events.append(event)
            return events
        events.append(event)


PARAMS = {"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "QUERY_STRING": "a=1"}


def test_request_then_body_events():
    conn = Connection()
    events = feed(conn, peer.request(1, PARAMS, b"hello"))
    assert [type(e) for e in events] == [Request, Body, BodyEnd, type(NEED_DATA)]
    request, body, end = events[:3]
    assert request.request_id == 1
    assert request.role == fastcgi.RESPONDER
    assert request.keep_conn is True
    assert request.params == PARAMS
    assert body.data == b"hello"
    assert end.request_id == 1
    assert conn.input_done


def test_events_compare_by_value():
    # Like h11's: real types with equality, so a whole exchange is one
    # assertion; reprs leave out the parameters and the bytes.
    conn = Connection()
    events = feed(conn, peer.request(1, PARAMS, b"hello", keep_conn=False))
    assert events == [Request(1, fastcgi.RESPONDER, False, PARAMS),
                      Body(1, b"hello"), BodyEnd(1), NEED_DATA]
    conn = Connection()
    # The request without its empty FCGI_STDIN, then an abort.
    assert feed(conn, peer.request(2, PARAMS)[:-8]
                + peer.record(peer.ABORT_REQUEST, 2)) == [
        Request(2, fastcgi.RESPONDER, True, PARAMS), Abort(2), NEED_DATA]
    assert Body(1, b"a") != Body(2, b"a") and BodyEnd(1) != Abort(1)
    assert repr(Request(3, 1, True, PARAMS)) == (
        "Request(request_id=3, role=1, keep_conn=True, 3 params)")
    assert repr(Body(3, b"secret")) == "Body(request_id=3, 6 bytes)"
    assert repr(BodyEnd(3)) == "BodyEnd(request_id=3)"


def test_byte_at_a_time_gives_the_same_events():
    data = peer.request(7, PARAMS, b"abc" * 10, chunk=4, padding=5)
    conn = Connection()
    events = []
    for i in range(len(data)):
        events += [e for e in feed(conn, data[i:i + 1]) if e is not NEED_DATA]
    assert isinstance(events[0], Request)
    assert events[0].params == PARAMS
    assert b"".join(e.data for e in events if isinstance(e, Body)) == b"abc" * 10
    assert isinstance(events[-1], BodyEnd)


def test_pairs_split_across_params_records():
    long_value = "v" * 300   # needs a four-byte length
    params = {"A": "1", "LONG": long_value, "Z" * 200: "z"}
    encoded = peer.pairs(params)
    conn = Connection()
    data = peer.begin(1)
    # Split inside a length, inside a name and inside a value.
    for piece in (encoded[:2], encoded[2:5], encoded[5:400], encoded[400:]):
        data += peer.record(peer.PARAMS, 1, piece)
    data += peer.record(peer.PARAMS, 1) + peer.record(peer.STDIN, 1)
    request = feed(conn, data)[0]
    assert request.params == params


def test_padding_is_skipped():
    conn = Connection()
    events = feed(conn, peer.request(1, PARAMS, b"xyz", padding=7))
    assert events[0].params == PARAMS
    assert events[1].data == b"xyz"


def test_params_are_latin1_text():
    conn = Connection()
    raw = {b"PATH_INFO": "/café".encode("utf-8")}
    request = feed(conn, peer.request(1, raw))[0]
    assert request.params["PATH_INFO"] == "/café".encode().decode("latin-1")


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 200000])
def test_stdin_of_any_size(size):
    body = bytes(range(256)) * (size // 256) + b"!" * (size % 256)
    conn = Connection()
    events = feed(conn, peer.request(1, PARAMS, body, chunk=65535))
    assert b"".join(e.data for e in events if isinstance(e, Body)) == body


def test_get_values_answered_on_request_id_zero():
    conn = Connection(max_conns=1, max_reqs=1)
    query = peer.pairs({"FCGI_MAX_CONNS": "", "FCGI_MAX_REQS": "",
                        "FCGI_MPXS_CONNS": "", "SOMETHING_ELSE": ""})
    assert feed(conn, peer.record(peer.GET_VALUES, 0, query)) == [NEED_DATA]
    [(rtype, rid, content)] = peer.written_records(conn.data_to_send())
    assert (rtype, rid) == (peer.GET_VALUES_RESULT, 0)
    assert peer.decode_pairs(content) == {
        b"FCGI_MAX_CONNS": b"1", b"FCGI_MAX_REQS": b"1",
        b"FCGI_MPXS_CONNS": b"0"}
    assert conn.data_to_send() == b""


def test_get_values_reports_configured_limits():
    conn = Connection(max_conns=16, max_reqs=16)
    feed(conn, peer.record(peer.GET_VALUES, 0,
                           peer.pairs({"FCGI_MAX_CONNS": ""})))
    [(_, _, content)] = peer.written_records(conn.data_to_send())
    assert peer.decode_pairs(content) == {b"FCGI_MAX_CONNS": b"16"}


@pytest.mark.parametrize("rid", [0, 3])
def test_unknown_type_answered(rid):
    conn = Connection()
    assert feed(conn, peer.record(42, rid, b"whatever")) == [NEED_DATA]
    [(rtype, got, content)] = peer.written_records(conn.data_to_send())
    assert (rtype, got) == (peer.UNKNOWN_TYPE, rid)
    assert content == bytes((42,)) + bytes(7)


@pytest.mark.parametrize("role", [peer.AUTHORIZER, peer.FILTER, 99])
def test_other_roles_refused(role):
    conn = Connection()
    events = feed(conn, peer.request(5, PARAMS, b"body", role=role))
    assert events == [NEED_DATA]   # its params and stdin are ignored
    [(rtype, rid, content)] = peer.written_records(conn.data_to_send())
    assert (rtype, rid) == (peer.END_REQUEST, 5)
    assert struct.unpack(">IB3x", content) == (0, fastcgi.UNKNOWN_ROLE)
    assert not conn.must_close
    # The connection stays usable.
    assert isinstance(feed(conn, peer.request(6, PARAMS))[0], Request)


def test_refused_role_without_keep_conn_closes():
    conn = Connection()
    feed(conn, peer.request(5, PARAMS, role=peer.AUTHORIZER, keep_conn=False))
    assert conn.data_to_send()
    assert conn.must_close


def test_second_request_while_one_is_active_is_refused():
    conn = Connection()
    feed(conn, peer.begin(1) + peer.stream(peer.PARAMS, 1, peer.pairs(PARAMS)))
    feed(conn, peer.begin(2))
    [(rtype, rid, content)] = peer.written_records(conn.data_to_send())
    assert (rtype, rid) == (peer.END_REQUEST, 2)
    assert struct.unpack(">IB3x", content)[1] == fastcgi.CANT_MPX_CONN
    assert conn.request_id == 1


def test_abort_during_body():
    conn = Connection()
    data = (peer.begin(1) + peer.stream(peer.PARAMS, 1, peer.pairs(PARAMS))
            + peer.record(peer.STDIN, 1, b"part"))
    events = feed(conn, data + peer.record(peer.ABORT_REQUEST, 1)
                  + peer.record(peer.STDIN, 1, b"late"))
    assert [type(e) for e in events[:3]] == [Request, Body, Abort]
    assert conn.aborted and conn.input_done
    end = peer.written_records(conn.end_request())
    assert [(r[0], r[1]) for r in end] == [(peer.STDOUT, 1),
                                           (peer.END_REQUEST, 1)]
    # The connection stays usable.
    assert isinstance(feed(conn, peer.request(2, PARAMS))[0], Request)


def test_abort_before_params_end():
    conn = Connection()
    events = feed(conn, peer.begin(1) + peer.record(peer.PARAMS, 1, b"\x01")
                  + peer.record(peer.ABORT_REQUEST, 1))
    assert isinstance(events[0], Abort)


def test_abort_for_an_ended_request_is_ignored():
    conn = Connection()
    feed(conn, peer.request(1, PARAMS))
    conn.end_request()
    assert feed(conn, peer.record(peer.ABORT_REQUEST, 1)) == [NEED_DATA]
    assert conn.data_to_send() == b""


def test_late_stdin_for_an_ended_request_is_ignored():
    conn = Connection()
    feed(conn, peer.begin(1) + peer.stream(peer.PARAMS, 1, peer.pairs(PARAMS)))
    conn.end_request()
    assert feed(conn, peer.record(peer.STDIN, 1, b"more")
                + peer.record(peer.STDIN, 1)) == [NEED_DATA]


def test_keep_conn_clear_closes_after_the_request():
    conn = Connection()
    request = feed(conn, peer.request(1, PARAMS, keep_conn=False))[0]
    assert request.keep_conn is False
    assert not conn.must_close
    conn.end_request()
    assert conn.must_close


def test_keep_conn_set_serves_the_next_request():
    conn = Connection()
    for rid in (1, 2, 1):
        request = feed(conn, peer.request(rid, PARAMS))[0]
        assert request.request_id == rid
        conn.end_request()
        assert not conn.must_close


def test_stdout_split_into_records_and_one_terminator():
    conn = Connection()
    feed(conn, peer.request(3, PARAMS))
    data = b"a" * 65535 + b"b" * 65535 + b"c"
    sent = peer.written_records(conn.send_stdout(data) + conn.end_request())
    stdout = [r for r in sent if r[0] == peer.STDOUT]
    assert [len(r[2]) for r in stdout] == [65535, 65535, 1, 0]
    assert b"".join(r[2] for r in stdout) == data
    assert sent[-1][0] == peer.END_REQUEST
    assert struct.unpack(">IB3x", sent[-1][2]) == (0, fastcgi.REQUEST_COMPLETE)


def test_empty_stdout_write_sends_nothing():
    conn = Connection()
    feed(conn, peer.request(1, PARAMS))
    assert conn.send_stdout(b"") == b""


def test_end_request_status_fields():
    conn = Connection()
    feed(conn, peer.request(9, PARAMS))
    sent = peer.written_records(conn.end_request(
        app_status=3, protocol_status=fastcgi.OVERLOADED))
    assert struct.unpack(">IB3x", sent[-1][2]) == (3, fastcgi.OVERLOADED)


def test_sending_without_a_request_is_an_error():
    conn = Connection()
    with pytest.raises(RuntimeError):
        conn.send_stdout(b"x")
    with pytest.raises(RuntimeError):
        conn.end_request()


def test_stderr_records():
    conn = Connection()
    feed(conn, peer.request(1, PARAMS))
    assert peer.written_records(conn.send_stderr(b"oops")) == [
        (peer.STDERR, 1, b"oops")]


# -- broken streams close the connection at once ---------------------------

def bad_header(version=1, rtype=peer.BEGIN_REQUEST, rid=1, clen=8):
    # Only the header: the point is that no content is waited for.
    return peer.HEADER.pack(version, rtype, rid, clen, 0, 0)


@pytest.mark.parametrize("header, message", [
    (bad_header(version=2), "version 2"),
    (bad_header(version=0, clen=65535), "version 0"),
    (bad_header(rtype=0, clen=65535), "type 0"),
    (bad_header(rtype=peer.STDOUT, clen=65535), "sent by applications"),
    (bad_header(rtype=peer.END_REQUEST), "sent by applications"),
    (bad_header(rid=0), "request id 0"),
    (bad_header(rtype=peer.STDIN, rid=0, clen=100), "request id 0"),
    (bad_header(clen=65535), "expected 8"),
    (bad_header(rtype=peer.ABORT_REQUEST, clen=500), "ABORT_REQUEST"),
    (bad_header(rtype=peer.GET_VALUES, rid=4, clen=10), "GET_VALUES"),
])
def test_impossible_header_fails_without_waiting(header, message):
    conn = Connection()
    conn.receive_data(header)
    with pytest.raises(ProtocolError, match=message):
        conn.next_event()


def test_truncated_record_at_eof():
    conn = Connection()
    conn.receive_data(peer.begin(1)[:5])
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    with pytest.raises(ProtocolError, match="middle of a record"):
        conn.next_event()


def test_eof_between_records_is_closed():
    conn = Connection()
    events = feed(conn, peer.request(1, PARAMS))
    conn.end_request()
    conn.receive_data(b"")
    assert conn.next_event() is CLOSED
    assert events[-1] is NEED_DATA


def test_pair_running_past_the_params():
    conn = Connection()
    bad = b"\x05\x05ab"   # claims 5+5 bytes, has 2
    with pytest.raises(ProtocolError, match="runs past"):
        feed(conn, peer.begin(1) + peer.record(peer.PARAMS, 1, bad)
             + peer.record(peer.PARAMS, 1))


def test_cut_long_length():
    with pytest.raises(ProtocolError, match="cut short"):
        fastcgi.decode_pairs(b"\x80\x00")


def test_params_size_limit():
    conn = Connection(max_params_size=100)
    with pytest.raises(ProtocolError, match="more than 100 bytes"):
        feed(conn, peer.begin(1) + peer.record(peer.PARAMS, 1, b"\x01" * 101))


def test_stdin_before_params_end():
    conn = Connection()
    with pytest.raises(ProtocolError, match="before its parameters"):
        feed(conn, peer.begin(1) + peer.record(peer.STDIN, 1, b"x"))


def test_duplicate_begin_for_the_active_request():
    conn = Connection()
    with pytest.raises(ProtocolError, match="already active"):
        feed(conn, peer.begin(1) + peer.begin(1))


def test_data_after_eof_is_a_bug():
    conn = Connection()
    conn.receive_data(b"")
    with pytest.raises(RuntimeError):
        conn.receive_data(b"x")


def test_buffer_is_compacted():
    """Consumed bytes are dropped as new ones arrive: 16 MiB of body fed
    in reads that always end inside a record (so something is always
    left over) is held at about one read's worth, whatever went before."""
    conn = Connection()
    feed(conn, peer.begin(1) + peer.stream(peer.PARAMS, 1, peer.pairs(PARAMS)))
    block = peer.record(peer.STDIN, 1, b"x" * 65000)
    stream = block * 256
    step = 100003                       # never a multiple of a record
    received = 0
    tracemalloc.start()
    try:
        for start in range(0, len(stream), step):
            for event in feed(conn, stream[start:start + step]):
                if type(event) is Body:
                    received += len(event.data)
            # Held: less than one record plus the read that just came.
            assert conn.buffered < len(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == 256 * 65000
    # Without compaction the buffer would grow to the whole 16 MiB.
    assert peak < 8 * step, peak


def test_encode_decode_round_trip():
    items = [(b"A", b""), (b"B" * 127, b"c" * 128), (b"D" * 1000, b"e")]
    data = fastcgi.encode_pairs(items)
    assert data == peer.pairs(items)
    assert fastcgi.decode_pairs(data) == {
        k.decode("latin-1"): v.decode("latin-1") for k, v in items}


def test_encode_record_limits():
    assert fastcgi.encode_record(peer.STDOUT, 1, b"x") == peer.record(
        peer.STDOUT, 1, b"x")
    with pytest.raises(ValueError):
        fastcgi.encode_record(peer.STDOUT, 1, b"x" * 65536)


def test_body_of_an_ended_request_is_tracked_until_it_ends():
    conn = Connection()
    feed(conn, peer.begin(1, keep_conn=False)
         + peer.stream(peer.PARAMS, 1, peer.pairs(PARAMS))
         + peer.record(peer.STDIN, 1, b"part"))
    conn.end_request()
    assert conn.discarding and conn.must_close
    assert feed(conn, peer.record(peer.STDIN, 1, b"more")) == [NEED_DATA]
    assert conn.discarding
    feed(conn, peer.record(peer.STDIN, 1))
    assert not conn.discarding


def test_nothing_to_discard_when_the_body_had_ended():
    conn = Connection()
    feed(conn, peer.request(1, PARAMS, b"all of it"))
    conn.end_request()
    assert not conn.discarding


def test_abort_ends_discarding():
    conn = Connection()
    feed(conn, peer.begin(1) + peer.stream(peer.PARAMS, 1, peer.pairs(PARAMS)))
    conn.end_request()
    feed(conn, peer.record(peer.ABORT_REQUEST, 1))
    assert not conn.discarding


@pytest.mark.parametrize("sizes", [
    [], [0], [13], [100, 0, 7], [65535], [65536], [65535, 1], [1, 65535],
    [70000, 70000, 3], [200000], [10] * 7000, [65534, 2, 65535, 65536]])
def test_send_stdout_parts_is_send_stdout_of_the_join(sizes):
    conn = Connection()
    conn.receive_data(fastcgi.ClientConnection().request(3, {"A": "b"}))
    while conn.next_event() is not NEED_DATA:
        pass
    parts = [bytes([n % 251]) * size for n, size in enumerate(sizes)]
    assert conn.send_stdout_parts(parts) == conn.send_stdout(b"".join(parts))
