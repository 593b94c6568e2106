"""Property and stateful tests of the sans-I/O FastCGI core
(iiswsgi.protocol.fastcgi.Connection) against the FastCGI 1.0 specification.

A model web server (built on the independent encoder in
tests/support/fcgi.py) sends valid record sequences, cut into random byte
pieces; the model application ends each request as the responder does.
Every event, management reply and end of request is checked against what
the model expects.
"""

import struct

from hypothesis import assume, given, note, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine, invariant, precondition, rule)

from iiswsgi.protocol import fastcgi
from iiswsgi.protocol.fastcgi import (
    Abort, Body, BodyEnd, CLOSED, Connection, NEED_DATA, ProtocolError,
    Request, decode_pairs, encode_pairs)
from tests.support import fcgi

#: The largest record a web server can send: header, content, padding.
MAX_RECORD = 8 + 0xFFFF + 0xFF
#: Upper bound on next_event() calls for one feed (every loop is bounded).
MAX_EVENTS = 10000

KNOWN_VALUES = ("FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS")



def long_binary(low, high):
    """Long byte strings that cost hypothesis little entropy (so stateful
    runs are not cut short by its buffer limit)."""
    return st.builds(lambda unit, n: (unit * n)[:n],
                     st.binary(min_size=1, max_size=3),
                     st.integers(low, high))


names = st.binary(max_size=20) | long_binary(120, 200)
values = st.binary(max_size=40) | long_binary(126, 300)
params_dicts = st.dictionaries(names, values, max_size=8)
paddings = st.just(0) | st.integers(0, 255)
rids = st.integers(1, 0xFFFF)


def end_records(rid, protocol_status=0):
    return [(fcgi.STDOUT, rid, b""),
            (fcgi.END_REQUEST, rid, struct.pack(">IB3x", 0, protocol_status))]


def latin1(pairs):
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in pairs.items()}


class WebServerModel(RuleBasedStateMachine):
    """A FastCGI web server talking to one Connection, plus the model of
    the application that answers it."""

    def __init__(self):
        super().__init__()
        self._fresh()

    def _fresh(self):
        self.conn = Connection(max_conns=3, max_reqs=7)
        self.active = None          # rid of the request being served
        self.phase = None           # "params" or "stdin"
        self.role = fcgi.RESPONDER
        self.keep_conn = True
        self.blob = b""             # encoded params of the active request
        self.blob_sent = 0
        self.expected_params = None
        self.body = bytearray()     # body received through Body events
        self.body_sent = bytearray()
        self.discarding = None      # rid whose body the server still sends
        self.closed = False         # the connection must close
        self.requests = 0

    # -- plumbing ------------------------------------------------------------

    def feed(self, data, wire):
        """Send ``data`` cut at random points, acting as the application
        on each event; returns (events, records written back: replies of
        the connection and the ends of requests, in order)."""
        cuts = sorted(wire.draw(st.lists(st.integers(0, len(data)),
                                         max_size=6), label="cuts"))
        pieces = []
        last = 0
        for cut in cuts + [len(data)]:
            pieces.append(data[last:cut])
            last = cut
        events = []
        written = bytearray()
        for piece in pieces:
            if piece:
                self.conn.receive_data(piece)
            for _ in range(MAX_EVENTS):
                event = self.conn.next_event()
                if event is NEED_DATA:
                    break
                assert event is not CLOSED
                events.append(event)
                if type(event) in (BodyEnd, Abort):
                    written += self.conn.end_request()
            else:
                raise AssertionError("next_event() never asked for data")
            written += self.conn.data_to_send()
            # Never more than one incomplete record held.
            assert self.conn.buffered < MAX_RECORD
        note("events %r" % (events,))
        return events, fcgi.written_records(written)

    def _request_over(self):
        self.active = None
        self.phase = None
        self.requests += 1
        if not self.keep_conn:
            self.closed = True

    # -- a request -----------------------------------------------------------

    @precondition(lambda self: self.active is None and not self.closed)
    @rule(wire=st.data(), rid=rids,
          keep_conn=st.sampled_from([True, True, True, False]),
          params=params_dicts, role=st.sampled_from(
              [fcgi.RESPONDER] * 8 + [fcgi.AUTHORIZER, fcgi.FILTER, 9]),
          send_refused_records=st.booleans())
    def begin(self, wire, rid, keep_conn, params, role, send_refused_records):
        assume(rid != self.discarding)
        data = fcgi.begin(rid, role, keep_conn)
        if role != fcgi.RESPONDER:
            if send_refused_records:
                # The web server may have queued the request's records
                # before it saw the refusal: they must be dropped.
                data += (fcgi.stream(fcgi.PARAMS, rid, fcgi.pairs(params))
                         + fcgi.stream(fcgi.STDIN, rid, b"refused"))
            events, replies = self.feed(data, wire)
            assert events == []
            assert replies == [end_records(rid, fastcgi.UNKNOWN_ROLE)[1]]
            if not keep_conn:
                self.closed = True
            return
        events, replies = self.feed(data, wire)
        assert events == [] and replies == []
        self.discarding = None
        self.active, self.phase, self.keep_conn = rid, "params", keep_conn
        self.role = role
        self.blob = fcgi.pairs(params)
        self.blob_sent = 0
        self.expected_params = latin1(params)
        self.body = bytearray()
        self.body_sent = bytearray()

    @precondition(lambda self: self.phase == "params"
                  and self.blob_sent < len(self.blob))
    @rule(wire=st.data(), size=st.integers(1, 200), padding=paddings)
    def params_piece(self, wire, size, padding):
        piece = self.blob[self.blob_sent:self.blob_sent + size]
        self.blob_sent += len(piece)
        events, replies = self.feed(
            fcgi.record(fcgi.PARAMS, self.active, piece, padding), wire)
        assert events == [] and replies == []

    @precondition(lambda self: self.phase == "params")
    @rule(wire=st.data(), padding=paddings)
    def params_end(self, wire, padding):
        rest = self.blob[self.blob_sent:]
        data = b"".join(fcgi.record(fcgi.PARAMS, self.active,
                                    rest[i:i + 0xFFFF], padding)
                        for i in range(0, len(rest), 0xFFFF))
        data += fcgi.record(fcgi.PARAMS, self.active, b"", padding)
        events, replies = self.feed(data, wire)
        assert replies == []
        assert len(events) == 1 and type(events[0]) is Request
        request = events[0]
        assert request.request_id == self.active
        assert request.role == self.role
        assert request.keep_conn == self.keep_conn
        assert request.params == self.expected_params
        self.phase = "stdin"

    @precondition(lambda self: self.phase == "stdin")
    @rule(wire=st.data(), data=st.binary(min_size=1, max_size=300)
          | long_binary(0xFFF0, 0xFFFF), padding=paddings)
    def body_piece(self, wire, data, padding):
        events, replies = self.feed(
            fcgi.record(fcgi.STDIN, self.active, data, padding), wire)
        assert replies == []
        assert len(events) == 1 and type(events[0]) is Body
        assert events[0].request_id == self.active
        assert events[0].data == data
        self.body += events[0].data
        self.body_sent += data

    @precondition(lambda self: self.phase == "stdin")
    @rule(wire=st.data(), padding=paddings)
    def body_end(self, wire, padding):
        rid = self.active
        events, replies = self.feed(
            fcgi.record(fcgi.STDIN, rid, b"", padding), wire)
        assert len(events) == 1 and type(events[0]) is BodyEnd
        assert events[0].request_id == rid
        assert bytes(self.body) == bytes(self.body_sent)
        assert replies == end_records(rid)
        self._request_over()

    @precondition(lambda self: self.phase in ("params", "stdin"))
    @rule(wire=st.data(), now=st.integers(0, 3))
    def abort(self, wire, now):
        if now:
            return          # aborts are rarer than the rest of a request
        rid = self.active
        events, replies = self.feed(fcgi.record(fcgi.ABORT_REQUEST, rid),
                                    wire)
        assert len(events) == 1 and type(events[0]) is Abort
        assert events[0].request_id == rid
        assert replies == end_records(rid)
        self._request_over()

    @precondition(lambda self: self.phase == "stdin")
    @rule()
    def app_ends_before_the_body_ends(self):
        rid = self.active
        written = self.conn.end_request()
        assert fcgi.written_records(written) == end_records(rid)
        assert self.conn.discarding
        self.discarding = rid
        self._request_over()

    @precondition(lambda self: self.discarding is not None)
    @rule(wire=st.data(), data=st.binary(max_size=100),
          how=st.sampled_from(["more", "end", "abort"]))
    def rest_of_a_body_nobody_reads(self, wire, data, how):
        rid = self.discarding
        if how == "more":
            record = fcgi.record(fcgi.STDIN, rid, data or b"x")
        elif how == "end":
            record = fcgi.record(fcgi.STDIN, rid, b"")
        else:
            record = fcgi.record(fcgi.ABORT_REQUEST, rid)
        events, replies = self.feed(record, wire)
        assert events == [] and replies == []
        if how != "more":
            self.discarding = None
            assert not self.conn.discarding

    # -- records outside the request ----------------------------------------

    # One rule for every record outside a request, so that hypothesis
    # (which picks uniformly among the rules it may run) spends most
    # steps on requests.
    @rule(wire=st.data(), kind=st.sampled_from(
        ["values", "unknown", "idle", "data", "second"]), rid=rids,
          wanted=st.lists(st.sampled_from(KNOWN_VALUES + ("FCGI_OTHER", "")),
                          unique=True),
          rtype=st.integers(12, 255), content=st.binary(max_size=30),
          padding=paddings)
    def management(self, wire, kind, rid, wanted, rtype, content, padding):
        if kind == "idle" or (self.closed and self.active is None):
            assert self.conn.next_event() is NEED_DATA
            assert self.conn.data_to_send() == b""
            return
        if kind == "data":
            if self.active is not None:
                # FCGI_DATA only matters to the Filter role: ignored.
                events, replies = self.feed(
                    fcgi.record(fcgi.DATA, self.active, content), wire)
                assert events == [] and replies == []
            return
        if kind == "second":
            if self.active is not None and rid != self.active:
                # FCGI_MPXS_CONNS is 0: a second request is refused.
                events, replies = self.feed(fcgi.begin(rid), wire)
                assert events == []
                assert replies == [end_records(rid, fastcgi.CANT_MPX_CONN)[1]]
                # The refusal forgets a body still being dropped.
                self.discarding = None
            return
        if kind == "unknown":
            events, replies = self.feed(
                fcgi.record(rtype, 0, content, padding), wire)
            assert events == []
            assert replies == [
                (fcgi.UNKNOWN_TYPE, 0, bytes((rtype,)) + bytes(7))]
            return
        blob = fcgi.pairs([(name, "") for name in wanted])
        events, replies = self.feed(
            fcgi.record(fcgi.GET_VALUES, 0, blob, padding), wire)
        assert events == []
        assert len(replies) == 1
        rtype, rid, content = replies[0]
        assert (rtype, rid) == (fcgi.GET_VALUES_RESULT, 0)
        table = {"FCGI_MAX_CONNS": "3", "FCGI_MAX_REQS": "7",
                 "FCGI_MPXS_CONNS": "0"}
        assert decode_pairs(content) == {
            name: table[name] for name in wanted if name in table}

    @precondition(lambda self: self.closed and self.active is None
                  and self.discarding is None)
    @rule()
    def reconnect(self):
        """The connection closed; the web server opens a new one."""
        self.teardown()
        self._fresh()

    # -- invariants --------------------------------------------------------

    @invariant()
    def nothing_left_over(self):
        assert self.conn.buffered == 0
        assert self.conn.request_id == self.active
        assert self.conn.must_close == self.closed

    def teardown(self):
        self.conn.receive_data(b"")
        assert self.conn.next_event() is CLOSED


TestConnectionAgainstModel = WebServerModel.TestCase


# -- name-value pairs ---------------------------------------------------------

@given(st.lists(st.tuples(names, values), max_size=10))
def test_pairs_round_trip(pairs):
    encoded = encode_pairs(pairs)
    # Byte for byte what the independent encoder writes.
    assert encoded == fcgi.pairs(pairs)
    assert decode_pairs(encoded) == latin1(dict(pairs))


@given(st.binary(max_size=300))
def test_decode_pairs_of_any_bytes(data):
    try:
        result = decode_pairs(data)
    except ProtocolError:
        return
    assert all(type(k) is str and type(v) is str for k, v in result.items())
    # Whatever decodes re-encodes to no more bytes than came (duplicates
    # and long-form lengths of small values only shrink it).
    assert len(encode_pairs((k.encode("latin-1"), v.encode("latin-1"))
                            for k, v in result.items())) <= len(data)


@given(st.integers(0, 0x7FFFFFFF))
def test_long_lengths_cut_short(length):
    # A pair announcing more than is there is refused, not read past.
    head = fcgi._length(length) + fcgi._length(0)
    try:
        assert decode_pairs(head + b"n" * min(length, 10)) == {
            "n" * length: ""}
        assert length <= 10
    except ProtocolError:
        assert length > 10


# -- any bytes ----------------------------------------------------------------

def header_is_valid(version, rtype, rid, clen):
    """The specification's rules for a record a web server may send."""
    if version != 1 or rtype == 0:
        return False
    if rtype in (fcgi.END_REQUEST, fcgi.STDOUT, fcgi.STDERR,
                 fcgi.GET_VALUES_RESULT, fcgi.UNKNOWN_TYPE):
        return False
    if rtype in (fcgi.BEGIN_REQUEST, fcgi.ABORT_REQUEST, fcgi.PARAMS,
                 fcgi.STDIN, fcgi.DATA) and rid == 0:
        return False
    if rtype == fcgi.GET_VALUES and rid != 0:
        return False
    if rtype == fcgi.BEGIN_REQUEST and clen != 8:
        return False
    if rtype == fcgi.ABORT_REQUEST and clen != 0:
        return False
    return True


@given(version=st.integers(0, 255) | st.just(1),
       rtype=st.integers(0, 255) | st.integers(0, 12),
       rid=st.integers(0, 0xFFFF) | st.sampled_from([0, 1]),
       clen=st.integers(0, 0xFFFF) | st.sampled_from([0, 8]),
       plen=st.integers(0, 255))
def test_a_bad_header_is_refused_before_its_content(version, rtype, rid,
                                                    clen, plen):
    conn = Connection()
    conn.receive_data(struct.pack(">BBHHBB", version, rtype, rid, clen,
                                  plen, 0))
    if header_is_valid(version, rtype, rid, clen):
        if clen + plen:
            assert conn.next_event() is NEED_DATA
    else:
        try:
            event = conn.next_event()
        except ProtocolError:
            return
        raise AssertionError("invalid header accepted: %r" % (event,))


def record_like():
    """Mostly well-formed records with random fields, sometimes garbage."""
    record = st.builds(
        lambda v, t, r, c, p: fcgi.record(t, r, c, p, version=v),
        st.just(1) | st.integers(0, 3),
        st.integers(0, 14) | st.integers(0, 255),
        st.sampled_from([0, 1, 2]), st.binary(max_size=40), st.integers(0, 8))
    begin = st.builds(fcgi.begin, st.sampled_from([1, 2]),
                      st.sampled_from([1, 1, 2]), st.booleans())
    pairs = st.builds(lambda r, p: fcgi.record(fcgi.PARAMS, r, fcgi.pairs(p)),
                      st.sampled_from([1, 2]), params_dicts)
    return st.one_of(record, begin, begin, pairs, st.binary(max_size=20))


@given(st.lists(record_like(), max_size=20), st.lists(st.integers(1, 64),
                                                       max_size=10))
def test_any_bytes_give_events_or_protocol_error(records, sizes):
    data = b"".join(records)
    pieces = []
    pos = 0
    for size in sizes:
        pieces.append(data[pos:pos + size])
        pos += size
    pieces.append(data[pos:])
    conn = Connection(max_params_size=2048)
    try:
        for piece in [p for p in pieces if p] + [b""]:
            conn.receive_data(piece)
            for _ in range(MAX_EVENTS):
                event = conn.next_event()
                if event is NEED_DATA:
                    break
                if event is CLOSED:
                    assert piece == b""
                    return
                assert type(event) in (Request, Body, BodyEnd, Abort)
                if type(event) in (BodyEnd, Abort):
                    assert conn.request_id == event.request_id
                    conn.end_request()
            else:
                raise AssertionError("next_event() looped")
            assert isinstance(conn.data_to_send(), bytes)
            # Bounded: at most one incomplete record, whose header passed.
            assert conn.buffered < MAX_RECORD
            raw = getattr(conn, "_buffer", None)
            if raw is not None:
                assert len(raw) < (1 << 16) + MAX_RECORD
        raise AssertionError("end of file gave no CLOSED")
    except ProtocolError:
        pass


@given(st.integers(1, 5000), st.integers(1, 4096))
def test_params_over_the_limit_are_refused(size, limit):
    conn = Connection(max_params_size=limit)
    blob = fcgi.pairs({b"N": b"v" * size})
    data = fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1, blob, chunk=1000)
    conn.receive_data(data)
    try:
        event = conn.next_event()
    except ProtocolError:
        assert len(blob) > limit
        return
    assert len(blob) <= limit
    assert type(event) is Request and event.params == {"N": "v" * size}
