"""FastCGI 1.0, both sides, with no I/O.

The application's side
----------------------

Feed the bytes the web server sends to :meth:`Connection.receive_data`
(``b""`` at end of file), then call :meth:`Connection.next_event` until it
returns :data:`NEED_DATA` or :data:`CLOSED`.  Events are :class:`Request`
(a request's parameters are complete), :class:`Body` (a piece of its
``FCGI_STDIN``), :class:`BodyEnd` and :class:`Abort`, records that
compare by value (the two sentinels are compared with ``is``).
Management records (``FCGI_GET_VALUES``, unknown types) and refused
requests are answered by the connection itself: send
:meth:`Connection.data_to_send` after each event.

Responses are built with :meth:`Connection.send_stdout` and
:meth:`Connection.end_request`, which return the bytes to write.  The
connection serves one request at a time (``FCGI_MPXS_CONNS`` is 0).

Anything the specification does not allow raises :class:`ProtocolError`;
the caller must then close the connection, since its framing is lost.

The web server's side
---------------------
:class:`ClientConnection` is one connection as IIS's FastCGI module (or any
web server) sees it.  Its ``begin_request``, ``send_params``,
``send_stdin``, ``abort_request``, ``get_values`` and ``request`` return the
bytes to write; feed what the application answers to
:meth:`ClientConnection.receive_data` and call
:meth:`ClientConnection.next_event` for :class:`Stdout`, :class:`Stderr`,
:class:`EndRequest`, :class:`ValuesResult` and :class:`UnknownTypeResult`
events, or :data:`NEED_DATA` / :data:`CLOSED`.  What an application must
not send raises :class:`ProtocolError`; misuse by the caller (a request
not begun, a stream already ended) raises ``RuntimeError`` or
``ValueError``.
"""

import struct
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

from ..errors import IISWSGIError
from ..records import FrozenRecord, Record

__all__ = [
    "Abort", "Body", "BodyEnd", "CLOSED", "ClientConnection", "Connection",
    "EndRequest", "Event", "NEED_DATA", "ProtocolError", "Request", "Stderr",
    "Stdout", "UnknownTypeResult", "ValuesResult", "decode_pairs",
    "encode_pairs", "encode_record",
]

VERSION_1 = 1
HEADER_LEN = 8
MAX_CONTENT = 0xFFFF

# Record types.
BEGIN_REQUEST = 1
ABORT_REQUEST = 2
END_REQUEST = 3
PARAMS = 4
STDIN = 5
STDOUT = 6
STDERR = 7
DATA = 8
GET_VALUES = 9
GET_VALUES_RESULT = 10
UNKNOWN_TYPE = 11

# Roles.
RESPONDER = 1
AUTHORIZER = 2
FILTER = 3

# Flags of FCGI_BEGIN_REQUEST.
KEEP_CONN = 1

# Protocol status of FCGI_END_REQUEST.
REQUEST_COMPLETE = 0
CANT_MPX_CONN = 1
OVERLOADED = 2
UNKNOWN_ROLE = 3

_HEADER = struct.Struct("!BBHHBx")
_BEGIN_BODY = struct.Struct("!HB5x")
_END_BODY = struct.Struct("!LB3x")
_LONG_LENGTH = struct.Struct("!L")
# What end_request sends, packed at once on the hot path: the empty
# FCGI_STDOUT that ends the stream, then FCGI_END_REQUEST and its body.
_END_RECORDS = struct.Struct("!BBHHBx" "BBHHBx" "LB3x")

# Types only an application sends: receiving one means the peer is confused.
_APPLICATION_TYPES = frozenset(
    (END_REQUEST, STDOUT, STDERR, GET_VALUES_RESULT, UNKNOWN_TYPE))
# Types that belong to a request and so need a non-zero request id.
_REQUEST_TYPES = frozenset((BEGIN_REQUEST, ABORT_REQUEST, PARAMS, STDIN, DATA))
_KNOWN_TYPES = _APPLICATION_TYPES | _REQUEST_TYPES | {GET_VALUES}


class ProtocolError(IISWSGIError):
    """The peer broke the FastCGI protocol; the connection must be closed."""


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: :meth:`Connection.next_event` needs more bytes before it can go on.
NEED_DATA = _Sentinel("NEED_DATA")
#: The peer closed the connection between records.
CLOSED = _Sentinel("CLOSED")


# The application side's events are created for every request on the
# gateway's hot path: slotted records, not frozen (a frozen __init__ costs
# twice as much), and not dataclasses (their methods are compiled at every
# start).  Their equality compares every field; their reprs leave out the
# parameters and the bytes, which may be large or secret.

class Request(Record):
    """A request whose parameters have all arrived."""

    __slots__ = ("request_id", "role", "keep_conn", "params")

    def __init__(self, request_id: int, role: int, keep_conn: bool,
                 params: Dict[str, str]) -> None:
        self.request_id = request_id
        self.role = role
        self.keep_conn = keep_conn
        self.params = params

    def __repr__(self) -> str:
        return "Request(request_id=%d, role=%d, keep_conn=%r, %d params)" % (
            self.request_id, self.role, self.keep_conn, len(self.params))


class Body(Record):
    """A piece of the request body (the content of one FCGI_STDIN record)."""

    __slots__ = ("request_id", "data")

    def __init__(self, request_id: int, data: bytes) -> None:
        self.request_id = request_id
        self.data = data

    def __repr__(self) -> str:
        return "Body(request_id=%d, %d bytes)" % (
            self.request_id, len(self.data))


class BodyEnd(Record):
    """The request body is complete (an empty FCGI_STDIN record)."""

    __slots__ = ("request_id",)

    def __init__(self, request_id: int) -> None:
        self.request_id = request_id


class Abort(Record):
    """The web server aborted the request (FCGI_ABORT_REQUEST)."""

    __slots__ = ("request_id",)

    def __init__(self, request_id: int) -> None:
        self.request_id = request_id


#: What Connection.next_event returns, besides NEED_DATA and CLOSED.
Event = Union[Request, Body, BodyEnd, Abort]


def encode_record(record_type: int, request_id: int,
                  content: bytes = b"") -> bytes:
    """One record, without padding; ``content`` must fit in one record."""
    length = len(content)
    if length > MAX_CONTENT:
        raise ValueError("record content of %d bytes is over the %d maximum"
                         % (length, MAX_CONTENT))
    if not length:
        return _empty_record(record_type, request_id)
    return _records(record_type, request_id, content)


def _empty_record(rtype, rid):
    """A record without content (the one that ends a stream, or
    FCGI_ABORT_REQUEST)."""
    return _HEADER.pack(VERSION_1, rtype, rid, 0, 0)


def _records(rtype, rid, data):
    """``data`` as records of ``rtype`` of at most MAX_CONTENT bytes each,
    without padding; ``b""`` for no data (the empty record that ends a
    stream is the caller's to add)."""
    length = len(data)
    if not length:
        return b""
    if length <= MAX_CONTENT:
        return _HEADER.pack(VERSION_1, rtype, rid, length, 0) + data
    view = memoryview(data)
    parts = []
    for start in range(0, length, MAX_CONTENT):
        chunk = view[start:start + MAX_CONTENT]
        parts += (_HEADER.pack(VERSION_1, rtype, rid, len(chunk), 0), chunk)
    return b"".join(parts)


def _record_buffers(rtype, rid, data):
    """``data`` as records of ``rtype`` like
    :func:`_records`, but as a list of buffers for a vectored write: each
    header, then a view of its content in ``data``, nothing copied."""
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    length = len(view)
    if length <= MAX_CONTENT:
        if not length:
            return []
        return [_HEADER.pack(VERSION_1, rtype, rid, length, 0), view]
    if length <= 2 * MAX_CONTENT:
        # A 64 KiB chunk, the common case: two records.
        rest = length - MAX_CONTENT
        return [_HEADER.pack(VERSION_1, rtype, rid, MAX_CONTENT, 0),
                view[:MAX_CONTENT],
                _HEADER.pack(VERSION_1, rtype, rid, rest, 0),
                view[MAX_CONTENT:]]
    buffers = []
    for start in range(0, length, MAX_CONTENT):
        chunk = view[start:start + MAX_CONTENT]
        buffers += (_HEADER.pack(VERSION_1, rtype, rid, len(chunk), 0), chunk)
    return buffers


def _records_of_parts(rtype, rid, parts):
    """The bytes of ``parts`` (a list of bytes) as records of
    ``rtype``, like :func:`_records` of their concatenation, made with a
    single copy of each byte (one join)."""
    total = sum(map(len, parts))
    if total <= MAX_CONTENT:
        if not total:
            return b""
        return b"".join([_HEADER.pack(VERSION_1, rtype, rid, total, 0)]
                        + parts)
    pieces = []
    room = 0
    left = total
    for part in parts:
        view = memoryview(part).cast("B")
        while view:
            if not room:
                room = min(MAX_CONTENT, left)
                left -= room
                pieces.append(_HEADER.pack(VERSION_1, rtype, rid, room, 0))
            piece = view[:room]
            pieces.append(piece)
            room -= len(piece)
            view = view[len(piece):]
    return b"".join(pieces)


def _encode_length(length):
    if length < 0x80:
        return bytes((length,))
    if length > 0x7FFFFFFF:
        raise ValueError("a name or value of %d bytes is too long" % length)
    return _LONG_LENGTH.pack(length | 0x80000000)


def encode_pairs(pairs: Iterable[Tuple[bytes, bytes]]) -> bytes:
    """Name-value pairs (an iterable of (bytes, bytes)) as FastCGI bytes."""
    parts = []
    for name, value in pairs:
        parts += (_encode_length(len(name)), _encode_length(len(value)),
                  name, value)
    return b"".join(parts)


def decode_pairs(data: bytes) -> Dict[str, str]:
    """Name-value pairs as a dict of latin-1 strings (PEP 3333 style).

    Raises :class:`ProtocolError` when a length runs past the data.
    """
    # The gateway's hottest loop (IIS sends some fifty pairs a request),
    # where most of the cost is making objects: latin-1 maps each byte to
    # one character, so the text is decoded once and sliced; it is sliced
    # two characters in (``text[i]`` is ``data[i + 2]``), so the name of a
    # pair whose lengths are at ``pos`` starts at ``pos`` and no position
    # is made that is not a slice's end; the value length is read from a
    # copy one byte in, for the same reason.  An empty value (most of
    # IIS's) is not sliced.  The loop ends when ``data[pos]`` is past the
    # end: exactly at it, the pairs are whole; a pair running past the end
    # leaves ``pos`` beyond it.
    text = data.decode("latin-1")[2:]
    after = data[1:]
    pairs = {}
    pos = 0
    name_len = value_len = 0
    try:
        while True:
            name_len = data[pos]
            value_len = after[pos]
            if name_len < 128 and value_len < 128:
                value_at = pos + name_len
                if value_len:
                    end = value_at + value_len
                    pairs[text[pos:value_at]] = text[value_at:end]
                    pos = end + 2
                else:
                    pairs[text[pos:value_at]] = ""
                    pos = value_at + 2
                continue
            # A length of 128 or more takes four bytes.
            at = pos
            if name_len < 128:
                at += 1
            else:
                name_len = _LONG_LENGTH.unpack_from(data, at)[0] & 0x7FFFFFFF
                at += 4
            value_len = data[at]
            if value_len < 128:
                at += 1
            else:
                value_len = (_LONG_LENGTH.unpack_from(data, at)[0]
                             & 0x7FFFFFFF)
                at += 4
            name_at = at - 2
            value_at = name_at + name_len
            end = value_at + value_len
            pairs[text[name_at:value_at]] = text[value_at:end]
            pos = end + 2
    except (IndexError, struct.error):
        size = len(data)
        if pos < size:
            raise ProtocolError("name-value pair cut short") from None
        if pos > size:
            raise ProtocolError(
                "name-value pair of %d+%d bytes runs past the %d bytes sent"
                % (name_len, value_len, size - pos + name_len + value_len)
            ) from None
    return pairs


# Where the active request is.
_PARAMS, _STDIN, _INPUT_DONE, _ABORTED = range(4)


class _RecordReader:
    """The receiving half both sides share: the bytes received, cut into
    records.  Each side checks a record's header with ``_check_header``
    (what it may receive) and says how a record cut short by the end of
    file is reported with ``_cut_short``."""

    def __init__(self) -> None:
        self._buffer = b""
        self._pos = 0
        self._offset = 0        # stream offset of self._buffer[0]
        self._eof = False

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the peer; ``b""`` means it closed the connection."""
        if data:
            if self._eof:
                raise RuntimeError("data received after end of file")
            pos = self._pos
            if pos >= len(self._buffer):
                # The common case: everything earlier was consumed.
                self._buffer = bytes(data)
            else:
                self._buffer = self._buffer[pos:] + data
            self._offset += pos
            self._pos = 0
        else:
            self._eof = True

    @property
    def peer_closed(self) -> bool:
        """True once the peer closed its side of the connection."""
        return self._eof

    @property
    def buffered(self) -> int:
        """How many received bytes are not yet turned into events."""
        return len(self._buffer) - self._pos

    def _read_record(self):
        """The next complete record as ``(type, request id, content, stream
        offset of its header)``, its header checked; else :data:`NEED_DATA`,
        or at end of file :data:`CLOSED` (ProtocolError when the end cut a
        record short)."""
        buffer = self._buffer
        pos = self._pos
        available = len(buffer) - pos
        if available >= HEADER_LEN:
            version, rtype, rid, clen, plen = _HEADER.unpack_from(buffer, pos)
            where = self._offset + pos
            self._check_header(version, rtype, rid, clen, where)
            start = pos + HEADER_LEN
            end = start + clen + plen
            if end <= len(buffer):
                self._pos = end
                return rtype, rid, buffer[start:start + clen], where
        if not self._eof:
            return NEED_DATA
        if available:
            raise ProtocolError(self._cut_short(available))
        return CLOSED

    def _check_header(self, version, rtype, rid, clen, where):
        raise NotImplementedError

    def _cut_short(self, available):
        raise NotImplementedError


class Connection(_RecordReader):
    """The protocol state of one connection from a web server.

    ``roles`` are the roles served; others are refused with
    FCGI_UNKNOWN_ROLE.  ``max_conns`` and ``max_reqs`` are the values
    reported to FCGI_GET_VALUES.  ``max_params_size`` bounds the bytes of
    parameters one request may send.
    """

    def __init__(self, roles: Iterable[int] = (RESPONDER,), max_conns: int = 1,
                 max_reqs: int = 1, max_params_size: int = 1 << 20) -> None:
        super().__init__()
        self.roles = frozenset(roles)
        self.max_params_size = max_params_size
        self.values = {
            "FCGI_MAX_CONNS": str(max_conns),
            "FCGI_MAX_REQS": str(max_reqs),
            "FCGI_MPXS_CONNS": "0",
        }
        #: The id of the request being served, or None between requests.
        self.request_id = None
        #: Whether the connection stays open after the current request.
        self.keep_conn = True
        #: True once the connection must be closed after data_to_send().
        self.must_close = False
        self._role = RESPONDER
        self._discarding = None
        self._state = _PARAMS
        self._params = []
        self._params_size = 0
        self._outbox = []

    # -- receiving ---------------------------------------------------------

    def abort_pending(self) -> bool:
        """True when the web server has aborted the active request: its
        FCGI_ABORT_REQUEST was read as an event, or is among the complete
        records received and not yet read.  Looks ahead without consuming
        anything, so body records before it stay for ``wsgi.input``."""
        rid = self.request_id
        if rid is None:
            return False
        if self._state == _ABORTED:
            return True
        buffer = self._buffer
        pos = self._pos
        last = len(buffer) - HEADER_LEN
        unpack = _HEADER.unpack_from
        while pos <= last:
            version, rtype, rec_id, clen, plen = unpack(buffer, pos)
            if version != VERSION_1:
                return False    # next_event() reports the broken stream
            if rtype == ABORT_REQUEST and rec_id == rid:
                return True
            pos += HEADER_LEN + clen + plen
        return False

    def next_event(self) -> Union[Event, _Sentinel]:
        """The next event, :data:`NEED_DATA` or :data:`CLOSED`."""
        # The records of a request are cut out and handled here, not by
        # _read_record, _dispatch and _begin: each call saved per record
        # counts on the gateway's hot path.  A request's parameters still go
        # through _add_params, so their size limit and their end are
        # handled in one place.  FCGI_PARAMS and
        # FCGI_STDIN with a request id, and FCGI_BEGIN_REQUEST with one and
        # 8 bytes of content, pass _check_header's every test; the other
        # types are checked by it.  What this loop does not handle
        # (management records, records of other requests, those out of
        # order) goes to _dispatch; what is not a complete record (end of
        # file, a record cut short) to _read_record.
        # Nothing below changes the buffer: it is read once.
        unpack = _HEADER.unpack_from
        buffer = self._buffer
        pos = self._pos
        size = len(buffer)
        while size - pos >= HEADER_LEN:
            version, rtype, rid, clen, plen = unpack(buffer, pos)
            if (version != VERSION_1 or not rid
                    or (rtype != STDIN and rtype != PARAMS and (
                        rtype != BEGIN_REQUEST or clen != _BEGIN_BODY.size))):
                self._check_header(version, rtype, rid, clen,
                                   self._offset + pos)
            start = pos + HEADER_LEN
            end = start + clen + plen
            if end > size:
                break
            self._pos = pos = end
            if rid == self.request_id:
                state = self._state
                if rtype == STDIN and state == _STDIN:
                    if clen:
                        return Body(rid, buffer[start:start + clen])
                    self._state = _INPUT_DONE
                    return BodyEnd(rid)
                if rtype == PARAMS and state == _PARAMS:
                    event = self._add_params(rid, buffer[start:start + clen])
                    if event is None:
                        continue
                    return event
            elif rtype == BEGIN_REQUEST and self.request_id is None:
                role, flags = _BEGIN_BODY.unpack_from(buffer, start)
                if role in self.roles:
                    self._discarding = None
                    self.request_id = rid
                    self.keep_conn = bool(flags & KEEP_CONN)
                    self._role = role
                    self._state = _PARAMS
                    if self._params_size:
                        self._params = []
                        self._params_size = 0
                    continue
            event = self._dispatch(rtype, rid, buffer[start:start + clen])
            if event is not None:
                return event
        if not self._eof:
            return NEED_DATA
        record = self._read_record()
        if type(record) is not tuple:
            return record
        # Not reached: _read_record found no complete record above.
        rtype, rid, content, _ = record
        event = self._dispatch(rtype, rid, content)
        return event if event is not None else self.next_event()

    def _cut_short(self, available):
        return ("connection closed in the middle of a record (%d bytes of"
                " it received)" % available)

    def _check_header(self, version, rtype, rid, clen, where):
        # Everything that can be judged from the header alone is judged
        # here, before waiting for content that may never come.
        if version != VERSION_1:
            raise ProtocolError("record version %d, expected 1" % version)
        if rtype in _APPLICATION_TYPES:
            raise ProtocolError(
                "record type %d is sent by applications, not web servers"
                % rtype)
        if rtype == 0:
            raise ProtocolError("record type 0 does not exist")
        if rtype in _REQUEST_TYPES and rid == 0:
            raise ProtocolError("record type %d with request id 0" % rtype)
        if rtype == GET_VALUES and rid != 0:
            raise ProtocolError("FCGI_GET_VALUES with request id %d" % rid)
        if rtype == BEGIN_REQUEST and clen != _BEGIN_BODY.size:
            raise ProtocolError(
                "FCGI_BEGIN_REQUEST with %d bytes of content, expected 8"
                % clen)
        if rtype == ABORT_REQUEST and clen:
            raise ProtocolError(
                "FCGI_ABORT_REQUEST with %d bytes of content" % clen)

    def _dispatch(self, rtype, rid, content):
        if rid != self.request_id:
            if rid == self._discarding and (
                    (rtype == STDIN and not content)
                    or rtype == ABORT_REQUEST):
                self._discarding = None
            if rtype == BEGIN_REQUEST:
                return self._begin(rid, content)
            if rtype == GET_VALUES:
                self._get_values(content)
            elif rtype not in _KNOWN_TYPES:
                self._outbox.append(encode_record(
                    UNKNOWN_TYPE, rid, bytes((rtype,)) + bytes(7)))
            # Anything else belongs to a request that has ended or was
            # refused: the web server may still be sending it.
            return None
        if self._state == _ABORTED:
            # The web server gave up on this request; whatever it had
            # already queued for it is of no use.
            return None
        if rtype == STDIN:
            if self._state == _STDIN:
                if content:
                    return Body(rid, content)
                self._state = _INPUT_DONE
                return BodyEnd(rid)
            if self._state == _PARAMS:
                raise ProtocolError(
                    "FCGI_STDIN for request %d before its parameters ended"
                    % rid)
            if content:
                raise ProtocolError(
                    "FCGI_STDIN for request %d after its end" % rid)
            return None
        if rtype == PARAMS:
            return self._add_params(rid, content)
        if rtype == ABORT_REQUEST:
            self._state = _ABORTED
            return Abort(rid)
        if rtype == BEGIN_REQUEST:
            raise ProtocolError("FCGI_BEGIN_REQUEST for request %d, which is"
                                " already active" % rid)
        if rtype not in _KNOWN_TYPES:
            self._outbox.append(encode_record(
                UNKNOWN_TYPE, rid, bytes((rtype,)) + bytes(7)))
        # FCGI_DATA only matters to the Filter role.
        return None

    def _begin(self, rid, content):
        self._discarding = None
        role, flags = _BEGIN_BODY.unpack(content)
        keep_conn = bool(flags & KEEP_CONN)
        if self.request_id is not None:
            self._refuse(rid, CANT_MPX_CONN, keep_conn)
        elif role not in self.roles:
            self._refuse(rid, UNKNOWN_ROLE, keep_conn)
        else:
            self.request_id = rid
            self.keep_conn = keep_conn
            self._role = role
            self._state = _PARAMS
            self._params = []
            self._params_size = 0
        return None

    def _refuse(self, rid, protocol_status, keep_conn):
        self._outbox.append(encode_record(
            END_REQUEST, rid, _END_BODY.pack(0, protocol_status)))
        if not keep_conn and self.request_id is None:
            self.must_close = True

    def _add_params(self, rid, content):
        if self._state != _PARAMS:
            if content:
                raise ProtocolError(
                    "FCGI_PARAMS for request %d after its end" % rid)
            return None
        if content:
            self._params_size += len(content)
            if self._params_size > self.max_params_size:
                raise ProtocolError(
                    "request %d sent more than %d bytes of parameters"
                    % (rid, self.max_params_size))
            self._params.append(content)
            return None
        chunks = self._params
        params = decode_pairs(chunks[0] if len(chunks) == 1
                              else b"".join(chunks))
        self._params = []
        self._params_size = 0
        self._state = _STDIN
        return Request(rid, self._role, self.keep_conn, params)

    def _get_values(self, content):
        wanted = decode_pairs(content)
        result = encode_pairs(
            (name.encode("latin-1"), self.values[name].encode("latin-1"))
            for name in wanted if name in self.values)
        self._outbox.append(encode_record(GET_VALUES_RESULT, 0, result))

    # -- sending -----------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Replies the connection made on its own (may be ``b""``)."""
        if not self._outbox:
            return b""
        data = b"".join(self._outbox)
        self._outbox.clear()
        return data

    @property
    def discarding(self) -> bool:
        """True while the body of a request that has ended is still coming
        (its records are dropped)."""
        return self._discarding is not None

    @property
    def input_done(self) -> bool:
        """True once the active request's body has ended or was aborted."""
        return self._state >= _INPUT_DONE

    @property
    def aborted(self) -> bool:
        """True when the web server aborted the active request."""
        return self._state == _ABORTED

    def send_stdout(self, data: bytes) -> bytes:
        """Bytes carrying ``data`` as FCGI_STDOUT of the active request."""
        return self._stream(STDOUT, data)

    def send_stdout_parts(self, parts: List[bytes]) -> bytes:
        """Bytes carrying the concatenation of ``parts`` as FCGI_STDOUT of
        the active request, each byte copied once (a response's head and
        the blocks of a body the application gave as a list)."""
        rid = self.request_id
        if rid is None:
            raise RuntimeError("no request is active")
        return _records_of_parts(STDOUT, rid, parts)

    def send_stdout_buffers(self, data: bytes) -> List[memoryview]:
        """The records carrying ``data`` as FCGI_STDOUT of the active
        request, as a list of buffers (headers, and views of ``data``) for
        one vectored write: a large body chunk goes out without being
        copied (64 KiB, one byte over a record, is two records)."""
        rid = self.request_id
        if rid is None:
            raise RuntimeError("no request is active")
        return _record_buffers(STDOUT, rid, data)

    def send_stderr(self, data: bytes) -> bytes:
        """Bytes carrying ``data`` as FCGI_STDERR of the active request."""
        return self._stream(STDERR, data)

    def _stream(self, rtype, data):
        rid = self.request_id
        if rid is None:
            raise RuntimeError("no request is active")
        return _records(rtype, rid, data)

    def end_request(self, app_status: int = 0,
                    protocol_status: int = REQUEST_COMPLETE) -> bytes:
        """Bytes ending the active request: the closing empty FCGI_STDOUT,
        then FCGI_END_REQUEST.  Afterwards :attr:`must_close` says whether
        the web server asked for the connection to be closed."""
        rid = self.request_id
        if rid is None:
            raise RuntimeError("no request is active")
        self.request_id = None
        if self._state < _INPUT_DONE:
            self._discarding = rid
        if not self.keep_conn:
            self.must_close = True
        return _END_RECORDS.pack(
            VERSION_1, STDOUT, rid, 0, 0,
            VERSION_1, END_REQUEST, rid, _END_BODY.size, 0,
            app_status & 0xFFFFFFFF, protocol_status)


# -- the web server's side ----------------------------------------------------

class Stdout(FrozenRecord):
    """The content of one FCGI_STDOUT record.  Empty ``data`` is a record
    that ends the stream; wfastcgi sends one after every write and IIS
    reads on after it, and so does :class:`ClientConnection`."""

    __slots__ = ("request_id", "data")

    def __init__(self, request_id: int, data: bytes) -> None:
        self._set("request_id", request_id)
        self._set("data", data)


class Stderr(FrozenRecord):
    """The content of one FCGI_STDERR record (empty: the end of the
    stream, as for :class:`Stdout`)."""

    __slots__ = ("request_id", "data")

    def __init__(self, request_id: int, data: bytes) -> None:
        self._set("request_id", request_id)
        self._set("data", data)


class EndRequest(FrozenRecord):
    """FCGI_END_REQUEST: the application is done with the request."""

    __slots__ = ("request_id", "app_status", "protocol_status")

    def __init__(self, request_id: int, app_status: int,
                 protocol_status: int) -> None:
        self._set("request_id", request_id)
        self._set("app_status", app_status)
        self._set("protocol_status", protocol_status)


class ValuesResult(FrozenRecord):
    """FCGI_GET_VALUES_RESULT: the values asked for (latin-1 text), those
    the application knows."""

    __slots__ = ("values",)

    def __init__(self, values: Dict[str, str]) -> None:
        self._set("values", values)


class UnknownTypeResult(FrozenRecord):
    """FCGI_UNKNOWN_TYPE: the application did not know a record type sent
    to it (``request_id`` is 0 for a management record)."""

    __slots__ = ("record_type", "request_id")

    def __init__(self, record_type: int, request_id: int = 0) -> None:
        self._set("record_type", record_type)
        self._set("request_id", request_id)


#: What ClientConnection.next_event returns.
ClientEvent = Union[Stdout, Stderr, EndRequest, ValuesResult,
                    UnknownTypeResult]
#: Parameters: a mapping or (name, value) pairs, each str (sent as UTF-8,
#: as IIS sends its server variables when told to) or bytes (as they are).
Params = Union[Mapping[Union[str, bytes], Union[str, bytes]],
               Iterable[Tuple[Union[str, bytes], Union[str, bytes]]]]

# Types only a web server sends: receiving one from an application is wrong.
_WEB_SERVER_TYPES = _REQUEST_TYPES | {GET_VALUES}
_TYPE_NAMES = {
    BEGIN_REQUEST: "FCGI_BEGIN_REQUEST", ABORT_REQUEST: "FCGI_ABORT_REQUEST",
    END_REQUEST: "FCGI_END_REQUEST", PARAMS: "FCGI_PARAMS",
    STDIN: "FCGI_STDIN", STDOUT: "FCGI_STDOUT", STDERR: "FCGI_STDERR",
    DATA: "FCGI_DATA", GET_VALUES: "FCGI_GET_VALUES",
    GET_VALUES_RESULT: "FCGI_GET_VALUES_RESULT",
    UNKNOWN_TYPE: "FCGI_UNKNOWN_TYPE",
}
_PROTOCOL_STATUSES = frozenset(
    (REQUEST_COMPLETE, CANT_MPX_CONN, OVERLOADED, UNKNOWN_ROLE))


def _octets(text):
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    return text.encode("utf-8")


def _param_pairs(params):
    items = params.items() if isinstance(params, Mapping) else params
    return [(_octets(name), _octets(value)) for name, value in items]


def _check_request_id(request_id):
    if not isinstance(request_id, int) or not 1 <= request_id <= 0xFFFF:
        raise ValueError("request id %r: FastCGI request ids are 1 to 65535"
                         " (0 is for management records)" % (request_id,))


class _ClientRequest:
    """What the web server has sent of one request, and whether the
    application has ended it."""

    __slots__ = ("keep_conn", "params_done", "stdin_done", "aborted",
                 "ended")

    def __init__(self, keep_conn, sent=False):
        self.keep_conn = keep_conn
        self.params_done = sent
        self.stdin_done = sent
        self.aborted = False
        self.ended = False

    @property
    def finished(self) -> bool:
        return self.ended and (self.stdin_done or self.aborted)


class ClientConnection(_RecordReader):
    """The protocol state of one connection to an application, from the
    web server's side.

    With ``track_requests`` (the default) every record the application
    sends must belong to a request begun here and not yet ended.  A caller
    that writes hand-made records (a test provoking the application) passes
    False: a record for an unknown or ended request id then counts as the
    answer to a request begun by other means.
    """

    def __init__(self, track_requests: bool = True) -> None:
        super().__init__()
        self.track_requests = track_requests
        self._requests: Dict[int, _ClientRequest] = {}
        self._values_asked = 0
        self._closing: Optional[int] = None

    # -- sending -----------------------------------------------------------

    def begin_request(self, request_id: int = 1, role: int = RESPONDER,
                      keep_conn: bool = True) -> bytes:
        """FCGI_BEGIN_REQUEST for a new request."""
        _check_request_id(request_id)
        current = self._requests.get(request_id)
        if current is not None and not current.finished:
            raise RuntimeError(
                "request %d is still active: wait for its FCGI_END_REQUEST"
                " and end its FCGI_STDIN before beginning it again"
                % request_id)
        self._requests[request_id] = _ClientRequest(keep_conn)
        return encode_record(BEGIN_REQUEST, request_id, _BEGIN_BODY.pack(
            role, KEEP_CONN if keep_conn else 0))

    def _sending(self, request_id, what):
        state = self._requests.get(request_id)
        if state is None:
            raise RuntimeError("%s for request %r, which was not begun: call"
                               " begin_request first" % (what, request_id))
        return state

    def send_params(self, request_id: int, params: Params) -> bytes:
        """All the parameters of a request: FCGI_PARAMS records of at most
        65535 bytes, then the empty one that ends them."""
        state = self._sending(request_id, "FCGI_PARAMS")
        if state.params_done:
            raise RuntimeError("the FCGI_PARAMS of request %d have already"
                               " ended" % request_id)
        state.params_done = True
        return (_records(PARAMS, request_id,
                         encode_pairs(_param_pairs(params)))
                + _empty_record(PARAMS, request_id))

    def send_stdin(self, request_id: int, data: bytes) -> bytes:
        """``data`` of the request body as FCGI_STDIN records; ``b""`` is
        the empty record that ends the body."""
        state = self._sending(request_id, "FCGI_STDIN")
        if not state.params_done:
            raise RuntimeError("FCGI_STDIN for request %d before its"
                               " parameters: call send_params first"
                               % request_id)
        if state.stdin_done:
            raise RuntimeError("the FCGI_STDIN of request %d has already"
                               " ended" % request_id)
        if not data:
            state.stdin_done = True
            return _empty_record(STDIN, request_id)
        return _records(STDIN, request_id, data)

    def send_data(self, request_id: int, data: bytes) -> bytes:
        """``data`` as FCGI_DATA records (the Filter role's second
        stream); ``b""`` is the empty record that ends it."""
        self._sending(request_id, "FCGI_DATA")
        if not data:
            return _empty_record(DATA, request_id)
        return _records(DATA, request_id, data)

    def abort_request(self, request_id: int) -> bytes:
        """FCGI_ABORT_REQUEST; the application still ends the request with
        FCGI_END_REQUEST."""
        state = self._sending(request_id, "FCGI_ABORT_REQUEST")
        if state.ended:
            raise RuntimeError("request %d has already ended: there is"
                               " nothing to abort" % request_id)
        if state.aborted:
            raise RuntimeError("request %d was already aborted" % request_id)
        state.aborted = True
        return _empty_record(ABORT_REQUEST, request_id)

    def get_values(self, names: Iterable[str]) -> bytes:
        """FCGI_GET_VALUES asking for ``names`` (e.g. FCGI_MAX_CONNS)."""
        content = encode_pairs((name.encode("latin-1"), b"")
                               for name in names)
        if len(content) > MAX_CONTENT:
            raise ValueError("FCGI_GET_VALUES of %d bytes does not fit in"
                             " one record (%d at most)"
                             % (len(content), MAX_CONTENT))
        self._values_asked += 1
        return encode_record(GET_VALUES, 0, content)

    def request(self, request_id: int, params: Params, body: bytes = b"",
                keep_conn: bool = True, role: int = RESPONDER) -> bytes:
        """A whole request in one buffer: FCGI_BEGIN_REQUEST, the
        parameters, the body and the empty FCGI_STDIN."""
        parts = [self.begin_request(request_id, role, keep_conn),
                 self.send_params(request_id, params)]
        if body:
            parts.append(self.send_stdin(request_id, body))
        parts.append(self.send_stdin(request_id, b""))
        return b"".join(parts)

    # -- receiving ---------------------------------------------------------

    @property
    def unfinished(self) -> List[int]:
        """The ids of the requests begun that the application has not
        ended (with CLOSED, those it left unanswered)."""
        return sorted(rid for rid, state in self._requests.items()
                      if not state.ended)

    def next_event(self) -> Union[ClientEvent, _Sentinel]:
        """The next event, :data:`NEED_DATA` or :data:`CLOSED`."""
        record = self._read_record()
        if type(record) is not tuple:
            return record
        return self._dispatch(*record)

    def _cut_short(self, available):
        return ("the application closed the connection in the middle of a"
                " record (%d bytes of it received, at byte %d)"
                % (available, self._offset + self._pos))

    def _check_header(self, version, rtype, rid, clen, where):
        if version != VERSION_1:
            raise ProtocolError("record at byte %d: version %d, expected 1"
                                % (where, version))
        name = _TYPE_NAMES.get(rtype)
        if rtype in _WEB_SERVER_TYPES:
            raise ProtocolError("record at byte %d: %s is sent by web"
                                " servers, not applications" % (where, name))
        if name is None:
            raise ProtocolError("record at byte %d: type %d is not one"
                                " FastCGI 1.0 defines" % (where, rtype))
        if rtype in (STDOUT, STDERR, END_REQUEST) and rid == 0:
            raise ProtocolError("record at byte %d: %s with request id 0"
                                % (where, name))
        if rtype == GET_VALUES_RESULT and rid != 0:
            raise ProtocolError("record at byte %d: %s with request id %d,"
                                " expected 0" % (where, name, rid))
        if rtype in (END_REQUEST, UNKNOWN_TYPE) and clen != 8:
            raise ProtocolError("record at byte %d: %s with %d bytes of"
                                " content, expected 8" % (where, name, clen))

    def _dispatch(self, rtype, rid, content, where):
        if self._closing is not None:
            raise ProtocolError(
                "record at byte %d: %s after the application ended request"
                " %d, begun without FCGI_KEEP_CONN (it must close the"
                " connection then)" % (where, _TYPE_NAMES[rtype],
                                       self._closing))
        if rtype == GET_VALUES_RESULT:
            if self._values_asked:
                self._values_asked -= 1
            elif self.track_requests:
                raise ProtocolError(
                    "record at byte %d: FCGI_GET_VALUES_RESULT, but no"
                    " FCGI_GET_VALUES was sent" % where)
            try:
                return ValuesResult(decode_pairs(content))
            except ProtocolError as error:
                raise ProtocolError("FCGI_GET_VALUES_RESULT at byte %d: %s"
                                    % (where, error)) from None
        if rtype == UNKNOWN_TYPE:
            return UnknownTypeResult(content[0], rid)
        state = self._requests.get(rid)
        if state is None or state.ended:
            if self.track_requests:
                raise ProtocolError(
                    "record at byte %d: %s for request %d, which %s"
                    % (where, _TYPE_NAMES[rtype], rid,
                       "was never begun" if state is None else
                       "has ended (its FCGI_END_REQUEST came before)"))
            state = self._requests[rid] = _ClientRequest(True, sent=True)
        if rtype == STDOUT:
            return Stdout(rid, content)
        if rtype == STDERR:
            return Stderr(rid, content)
        app_status, protocol_status = _END_BODY.unpack(content)
        if protocol_status not in _PROTOCOL_STATUSES:
            raise ProtocolError(
                "record at byte %d: FCGI_END_REQUEST for request %d with"
                " protocol status %d, which FastCGI 1.0 does not define"
                % (where, rid, protocol_status))
        state.ended = True
        if not state.keep_conn and not self.unfinished:
            self._closing = rid
        return EndRequest(rid, app_status, protocol_status)
