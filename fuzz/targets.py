"""Fuzz targets: plain functions of one ``bytes`` argument.

They need no atheris: fuzz/fuzz_*.py hand them to atheris, and
tests/property/test_fuzz_smoke.py calls them on the seed corpus and random
inputs.  A target returns normally for every input the code under test
handles as documented and raises (AssertionError or the unexpected
exception) otherwise.
"""

import contextlib
import logging
import struct

from iiswsgi.protocol import fastcgi
from iiswsgi.gateway.environ import (build_environ, mount_point,
                                     original_url, request_path)

#: The largest record a web server can send: header, content, padding.
MAX_RECORD = 8 + 0xFFFF + 0xFF
#: Bounds on the work one input may cause.
MAX_EVENTS = 20000
MAX_PARAMS = 1 << 16

#: The loggers the targets make noise on.
QUIET_LOGGERS = ("iiswsgi", "iiswsgi.gateway.environ")


@contextlib.contextmanager
def quiet_logs():
    """Silence iiswsgi's loggers while fuzzing (build_environ warns about
    odd requests, and a fuzzer makes millions of them); their levels are
    put back on the way out, so nothing later (caplog) is silenced."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, saved):
            logger.setLevel(level)


# -- the record stream -----------------------------------------------------

def record_stream(data):
    """The first byte chooses how the input is cut into reads (1 to 256
    bytes each); the rest is what the web server sent.  The model
    application ends each request at its BodyEnd or Abort, or (odd
    requests) right after its Request, as the responder does when it does
    not read the body."""
    if not data:
        return
    step = data[0] + 1
    stream = data[1:]
    conn = fastcgi.Connection(max_params_size=MAX_PARAMS)
    active = None
    body_open = False
    try:
        pieces = [stream[i:i + step] for i in range(0, len(stream), step)]
        for piece in pieces + [b""]:
            conn.receive_data(piece)
            for _ in range(MAX_EVENTS):
                event = conn.next_event()
                if event is fastcgi.NEED_DATA:
                    break
                if event is fastcgi.CLOSED:
                    assert piece == b"", "CLOSED before end of file"
                    assert conn.buffered == 0
                    return
                kind = type(event)
                if kind is fastcgi.Request:
                    assert active is None, "two requests at once"
                    assert event.request_id == conn.request_id != 0
                    assert all(type(k) is str and type(v) is str
                               for k, v in event.params.items())
                    active = event.request_id
                    body_open = True
                    if active % 2:
                        conn.end_request()
                        active = None
                elif kind is fastcgi.Body:
                    assert event.request_id == active and body_open
                    assert 0 < len(event.data) <= 0xFFFF
                elif kind in (fastcgi.BodyEnd, fastcgi.Abort):
                    assert event.request_id == conn.request_id
                    if kind is fastcgi.BodyEnd:
                        assert event.request_id == active and body_open
                    conn.end_request()
                    active = None
                    body_open = False
                else:
                    raise AssertionError("unknown event %r" % (event,))
            else:
                raise AssertionError("next_event() never asked for data")
            check_replies(conn.data_to_send())
            # Never more than one incomplete record is held.
            assert conn.buffered < MAX_RECORD, conn.buffered
        raise AssertionError("end of file gave neither CLOSED nor an error")
    except fastcgi.ProtocolError:
        return


#: The events of what a connection may answer on its own.
_REPLIES = (fastcgi.EndRequest, fastcgi.ValuesResult,
            fastcgi.UnknownTypeResult)


def check_replies(data):
    """What the connection answered on its own is well-formed records,
    read by the web server's side of iiswsgi's own FastCGI code (not
    tracking requests: the refused ones were never begun there)."""
    reader = fastcgi.ClientConnection(track_requests=False)
    reader.receive_data(data)
    reader.receive_data(b"")
    try:
        for _ in range(MAX_EVENTS):
            event = reader.next_event()
            if event is fastcgi.CLOSED:
                return
            assert type(event) in _REPLIES, event
    except fastcgi.ProtocolError as error:
        # Not the input's fault (the caller takes ProtocolError for that):
        # the connection wrote something a web server cannot read.
        raise AssertionError("malformed reply: %s" % error) from None
    raise AssertionError("more replies than bytes")


# -- name-value pairs ------------------------------------------------------

def pairs(data):
    """decode_pairs either refuses the bytes or returns text pairs that
    encode back to a block of the same meaning."""
    try:
        decoded = fastcgi.decode_pairs(data)
    except fastcgi.ProtocolError:
        return
    encoded = fastcgi.encode_pairs((k.encode("latin-1"), v.encode("latin-1"))
                                   for k, v in decoded.items())
    assert len(encoded) <= len(data)
    assert fastcgi.decode_pairs(encoded) == decoded


# -- the environ ---------------------------------------------------------

#: The variables the environ target fills, in the order of the input's
#: fields.  The last two are settings, not parameters.
ENVIRON_FIELDS = ("UNENCODED_URL", "REQUEST_URI", "APPL_MD_PATH",
                  "PATH_INFO", "SCRIPT_NAME", "URL", "HTTP_X_ORIGINAL_URL",
                  "HTTPS", "CONTENT_LENGTH", "script_name")
_PARAM_FIELDS = ENVIRON_FIELDS[:-1]


def environ_input(fields, flags=0):
    """The target's input for ``fields`` (a dict, names from
    ENVIRON_FIELDS, str values; missing ones absent)."""
    present = 0
    parts = []
    for bit, name in enumerate(ENVIRON_FIELDS):
        if name in fields:
            present |= 1 << bit
        parts.append(fields.get(name, "").encode("latin-1"))
    return (struct.pack("!HB", present, flags)
            + b"\x00".join(parts))


def _mount_spellings(mount):
    mount = mount.rstrip("/")
    if mount and not mount.startswith("/"):
        mount = "/" + mount
    spellings = {mount.lower()}
    if not mount.isascii():
        spellings.add(mount.encode("utf-8").decode("latin-1").lower())
    return spellings


def _has_dot_segment(path):
    segments = path.split("/")
    # The first segment of an absolute path is the empty one before "/".
    return any(s in (".", "..") for s in segments[1:])


def environ(data):
    """build_environ on fuzzed IIS-like parameters.  Input: two bytes
    saying which fields are present, one byte of flags (1: trust
    HTTP_X_ORIGINAL_URL, 2: IIS_WasUrlRewritten=1), then the fields'
    values separated by NUL bytes (read as latin-1, as parameters are)."""
    if len(data) < 3:
        return
    present, flags = struct.unpack_from("!HB", data)
    values = data[3:].split(b"\x00")
    params = {}
    script_name = None
    for bit, name in enumerate(ENVIRON_FIELDS):
        if not present & (1 << bit):
            continue
        value = values[bit].decode("latin-1") if bit < len(values) else ""
        if name == "script_name":
            script_name = value
        else:
            params[name] = value
    if flags & 2:
        params["IIS_WasUrlRewritten"] = "1"
    trust = bool(flags & 1)
    given = dict(params)

    result = build_environ(params, script_name, trust)

    for name in ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
                 "REQUEST_METHOD", "SERVER_NAME", "SERVER_PORT",
                 "SERVER_PROTOCOL"):
        assert type(result[name]) is str, name
    assert result["wsgi.url_scheme"] in ("http", "https")
    iis = "APPL_MD_PATH" in given or script_name is not None
    if not iis:
        # Other web servers: SCRIPT_NAME and PATH_INFO kept when sent.
        for name in ("SCRIPT_NAME", "PATH_INFO"):
            if name in given:
                assert result[name] == given[name]
        return
    mount = (script_name if script_name is not None
             else mount_point(given["APPL_MD_PATH"]))
    script = result["SCRIPT_NAME"]
    path_info = result["PATH_INFO"]
    # SCRIPT_NAME is the mount point (in the request's spelling) or "".
    assert script == "" or script.lower() in _mount_spellings(mount), (
        script, mount)
    # The split is on a segment boundary.
    assert path_info == "" or path_info.startswith("/") or script == "", (
        script, path_info)
    raw = None
    if trust or flags & 2:
        raw = original_url(given)        # None when it holds two URLs
    if raw is None:
        raw = given.get("UNENCODED_URL") or given.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        # Routed on the raw URL: the path is decoded once, dot segments
        # resolved, and nothing of it is lost or added by the split.
        full = script + path_info
        assert full == request_path(raw, "APPL_MD_PATH" in given), (
            raw, script, path_info)
        assert not _has_dot_segment(full), (raw, full)
        assert "/../" not in path_info + "/" and "/./" not in path_info + "/"
        assert path_info == "" or path_info.startswith("/")
