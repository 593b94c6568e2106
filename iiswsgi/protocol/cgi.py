"""The head of a CGI response (RFC 3875, section 6), read as IIS reads
what a FastCGI application writes on FCGI_STDOUT.  No I/O.

Header lines end with CRLF or a bare LF; the first empty line ends the
head.  ``Status: 404 Not Found`` (or just ``Status: 404``) sets the status;
without it the status is 200, or 302 when there is a ``Location``.  Every
other line is a header, given back as it came (names as written, values
stripped of surrounding blanks); which of them a server drops (hop-by-hop
ones) is the server's business.

:func:`parse_head` reads a whole answer, or the start of one as it
arrives: it returns :class:`ResponseHead` (status, reason, headers and the
bytes after the head) once the empty line is in, None before, and raises
:class:`MalformedHead` for a head that breaks the rules.
"""

import http
import re
from typing import List, Optional, Tuple

from ..errors import IISWSGIError
from ..records import Record

__all__ = ["MalformedHead", "ResponseHead", "TOKEN", "find_head_end",
           "parse_head"]

#: An HTTP token (RFC 9110, section 5.6.2), the form of a header field
#: name: a regular expression, to match whole (with ``\Z``) or in a larger
#: pattern.
TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN = re.compile(TOKEN.encode("ascii") + rb"\Z")
_STATUS = re.compile(r"([0-9]{3})(?:[ \t]+(.*))?\Z")
_LINE_END = re.compile(rb"\r?\n")


class MalformedHead(IISWSGIError, ValueError):
    """The head of a CGI response breaks RFC 3875 (IIS answers such a
    response with "The FastCGI process returned malformed headers")."""


class ResponseHead(Record):
    """A CGI response head, and the bytes that followed it."""

    __slots__ = ("status", "reason", "headers", "body")
    status: int
    reason: str
    headers: List[Tuple[str, str]]
    body: bytes

    def __init__(self, status: int, reason: str,
                 headers: Optional[List[Tuple[str, str]]] = None,
                 body: bytes = b"") -> None:
        self.status = status
        self.reason = reason
        self.headers = [] if headers is None else headers
        self.body = body

    @property
    def status_line(self) -> str:
        """``"404 Not Found"``, as WSGI's start_response takes it."""
        return "%d %s" % (self.status, self.reason)

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` (any case), or None."""
        folded = name.casefold()
        for key, value in self.headers:
            if key.casefold() == folded:
                return value
        return None


def find_head_end(data: bytes) -> Optional[Tuple[int, int]]:
    """(where the head's lines end, where the body starts) once ``data``
    holds the empty line ending the head; None before.  A response that
    starts with an empty line has an empty head."""
    pos = 0
    size = len(data)
    while pos < size:
        newline = data.find(b"\n", pos)
        if newline < 0:
            return None
        line_end = newline - 1 if newline > pos and \
            data[newline - 1] == 0x0D else newline
        if line_end == pos:
            return pos, newline + 1
        pos = newline + 1
    return None


def _reason(code):
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def parse_head(data: bytes, final: bool = True,
               limit: Optional[int] = None) -> Optional[ResponseHead]:
    """The head of the CGI response starting ``data``.

    ``final``: ``data`` is the whole response, so a head that does not end
    is malformed; with False, None means "not yet" (then ``limit`` bounds
    the bytes a head may take before it is malformed).
    """
    found = find_head_end(data)
    if found is None:
        if final:
            raise MalformedHead(
                "the response ended before the empty line that ends its"
                " headers (%d bytes, starting %r)" % (len(data), data[:80]))
        if limit is not None and len(data) > limit:
            raise MalformedHead("no empty line ending the headers in the"
                                " first %d bytes" % limit)
        return None
    end, body_start = found
    status = None
    location = False
    headers = []
    lines = _LINE_END.split(bytes(data[:end])) if end else []
    if lines and lines[-1] == b"":
        lines.pop()             # the line end of the last header line
    for number, line in enumerate(lines, 1):
        if line[:1] in (b" ", b"\t"):
            raise MalformedHead("header line %d starts with a blank (a"
                                " folded line, which CGI does not allow):"
                                " %r" % (number, line.decode("latin-1")))
        name, sep, value = line.partition(b":")
        name = name.rstrip(b" \t")
        if not sep or not _TOKEN.match(name):
            raise MalformedHead("header line %d is not \"Name: value\": %r"
                                % (number, line.decode("latin-1")))
        text = name.decode("latin-1")
        value = value.strip(b" \t").decode("latin-1")
        if any(ord(c) < 0x20 and c != "\t" or c == "\x7f" for c in value):
            raise MalformedHead("header line %d (%s) holds a control"
                                " character: %r" % (number, text, value))
        folded = text.casefold()
        if folded == "status":
            if status is not None:
                raise MalformedHead("header line %d: a second Status"
                                    " header (%s)" % (number, value))
            match = _STATUS.match(value)
            if match is None:
                raise MalformedHead(
                    "header line %d: Status %r is not a 3-digit code and"
                    " an optional reason, e.g. \"Status: 404 Not Found\""
                    % (number, value))
            status = (int(match.group(1)), (match.group(2) or "").strip())
            continue
        if folded == "location":
            location = True
        headers.append((text, value))
    if status is None:
        code, reason = (302, "") if location else (200, "")
    else:
        code, reason = status
    return ResponseHead(code, reason or _reason(code), headers,
                        bytes(data[body_start:]))
