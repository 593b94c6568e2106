"""The web server's side of FastCGI, for tests: a socket wrapped around
iiswsgi.protocol.fastcgi.ClientConnection, and builders of hand-made
records (padded, cut into small pieces, of a wrong version) for provoking
an application.

The encoding itself is iiswsgi's; tests/unit/test_fastcgi_client.py pins
it to the specification's bytes, so the application's side is still
checked against known answers.
"""

import socket
import struct

from iiswsgi.protocol import fastcgi
from iiswsgi.protocol.cgi import MalformedHead, parse_head
from iiswsgi.protocol.fastcgi import (  # noqa: F401 (the tests' names)
    ABORT_REQUEST, AUTHORIZER, BEGIN_REQUEST, DATA, END_REQUEST, FILTER,
    GET_VALUES, GET_VALUES_RESULT, PARAMS, RESPONDER, STDERR, STDIN, STDOUT,
    UNKNOWN_TYPE)

# The record header with its reserved byte, for tests that build or split
# records by hand.
HEADER = struct.Struct(">BBHHBB")
_END_BODY = struct.Struct(">IB3x")
_length = fastcgi._encode_length


def record(rtype, rid, content=b"", padding=0, version=1):
    """One record as given, padding and version included: what an
    application may be sent, right or wrong."""
    return (HEADER.pack(version, rtype, rid, len(content), padding, 0)
            + content + b"\x00" * padding)


def _bytes(value):
    return value if isinstance(value, bytes) else value.encode("utf-8")


def pairs(items):
    """Name-value pairs (a dict or pairs of str, sent as UTF-8, or bytes)."""
    if isinstance(items, dict):
        items = items.items()
    return fastcgi.encode_pairs((_bytes(n), _bytes(v)) for n, v in items)


def begin(rid, role=RESPONDER, keep_conn=True):
    return fastcgi.ClientConnection().begin_request(rid, role, keep_conn)


def stream(rtype, rid, data, chunk=65535, padding=0):
    """Records carrying ``data``, then the empty record that ends them."""
    out = [record(rtype, rid, data[i:i + chunk], padding)
           for i in range(0, len(data), chunk)]
    out.append(record(rtype, rid, b"", padding))
    return b"".join(out)


def request(rid, params, body=b"", keep_conn=True, chunk=65535, padding=0,
            role=RESPONDER):
    """A whole request; with ``chunk`` or ``padding`` its streams are cut
    and padded by hand."""
    if chunk == fastcgi.MAX_CONTENT and not padding:
        return fastcgi.ClientConnection().request(rid, params, body,
                                                  keep_conn, role)
    return (begin(rid, role, keep_conn)
            + stream(PARAMS, rid, pairs(params), chunk, padding)
            + stream(STDIN, rid, body, chunk, padding))


class Response:
    def __init__(self):
        self.records = []
        self.stdout = b""
        self.stderr = b""
        self.app_status = None
        self.protocol_status = None
        self.stdout_ends = 0

    def parse(self):
        """Status, headers and body of the CGI answer.  Status None when
        the application wrote nothing, or when what was read is not a
        whole answer (its start was read record by record): then
        ``malformed`` says why."""
        self.status, self.headers, self.body = None, [], b""
        self.malformed = None
        if self.stdout:
            try:
                head = parse_head(self.stdout)
            except MalformedHead as error:
                self.malformed = str(error)
            else:
                self.status, self.headers, self.body = (
                    head.status, head.headers, head.body)
        return self

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def text(self):
        return self.body.decode("utf-8")


def _as_record(event):
    """(type, request id, content) of the record an event came in."""
    if isinstance(event, fastcgi.Stdout):
        return STDOUT, event.request_id, event.data
    if isinstance(event, fastcgi.Stderr):
        return STDERR, event.request_id, event.data
    if isinstance(event, fastcgi.EndRequest):
        return END_REQUEST, event.request_id, _END_BODY.pack(
            event.app_status, event.protocol_status)
    if isinstance(event, fastcgi.ValuesResult):
        return GET_VALUES_RESULT, 0, fastcgi.encode_pairs(
            (n.encode("latin-1"), v.encode("latin-1"))
            for n, v in event.values.items())
    return UNKNOWN_TYPE, event.request_id, bytes((event.record_type,)) + \
        bytes(7)


class Client:
    """Talks FastCGI over a connected socket (or anything with its
    settimeout, sendall and recv); what is sent is the test's own bytes."""

    def __init__(self, sock, timeout=30):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.connection = fastcgi.ClientConnection(track_requests=False)

    @property
    def buffer(self):
        """Received bytes not yet read as records."""
        return self.connection.buffered

    def send(self, data):
        self.sock.sendall(data)

    def next_event(self):
        while True:
            event = self.connection.next_event()
            if event is fastcgi.CLOSED:
                raise EOFError("connection closed")
            if event is not fastcgi.NEED_DATA:
                return event
            self.connection.receive_data(self.sock.recv(1 << 16))

    def read_record(self):
        return _as_record(self.next_event())

    def read_response(self, rid):
        response = Response()
        while True:
            event = self.next_event()
            response.records.append(_as_record(event))
            if getattr(event, "request_id", 0) != rid:
                continue
            if isinstance(event, fastcgi.Stdout):
                if event.data:
                    assert not response.stdout_ends, "STDOUT after its end"
                    response.stdout += event.data
                else:
                    response.stdout_ends += 1
            elif isinstance(event, fastcgi.Stderr):
                response.stderr += event.data
            elif isinstance(event, fastcgi.EndRequest):
                response.app_status = event.app_status
                response.protocol_status = event.protocol_status
                return response.parse()

    def request(self, params, body=b"", rid=1, keep_conn=True, **kw):
        self.send(request(rid, params, body, keep_conn, **kw))
        return self.read_response(rid)

    def closed(self, timeout=10):
        """True once the other end closes the connection."""
        self.sock.settimeout(timeout)
        try:
            return not self.buffer and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def decode_pairs(data):
    """Name-value pairs as a dict of bytes."""
    return {name.encode("latin-1"): value.encode("latin-1")
            for name, value in fastcgi.decode_pairs(data).items()}


def written_records(data):
    """The records in bytes an application wrote, as (type, request id,
    content), read by the web server's side (a ClientConnection that does
    not track requests: the tests begin them by hand).  A record cut short
    is a ProtocolError.

    The events leave out the padding and the bytes FastCGI 1.0 reserves
    (in every header, and in the bodies of FCGI_END_REQUEST and
    FCGI_UNKNOWN_TYPE).  iiswsgi writes the reserved bytes as zeros and no
    padding, so ``data`` must be these records encoded again, byte for
    byte: that checks the raw bytes the events cannot show."""
    reader = fastcgi.ClientConnection(track_requests=False)
    reader.receive_data(bytes(data))
    reader.receive_data(b"")
    records = []
    while True:
        event = reader.next_event()
        if event is fastcgi.CLOSED:
            break
        assert event is not fastcgi.NEED_DATA
        records.append(_as_record(event))
    assert bytes(data) == b"".join(record(*r) for r in records), \
        "padding or non-zero reserved bytes in %r" % bytes(data[:200])
    return records
