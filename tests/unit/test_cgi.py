"""CGI response heads (iiswsgi.protocol.cgi), as IIS and RFC 3875 read
them."""

import pytest

from iiswsgi.errors import IISWSGIError
from iiswsgi.protocol.cgi import (
    MalformedHead, ResponseHead, find_head_end, parse_head)


def test_status_reason_headers_and_body():
    head = parse_head(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n"
                      b"X-A:  b c \r\n\r\nno such page\r\n\r\nmore")
    assert head == ResponseHead(
        404, "Not Found", [("Content-Type", "text/plain"), ("X-A", "b c")],
        b"no such page\r\n\r\nmore")
    assert head.status_line == "404 Not Found"
    assert head.header("content-type") == "text/plain"
    assert head.header("X-Missing") is None


# The emulator's cases (tests/unit/test_emulator.py), with hop-by-hop
# headers kept: dropping them is the server's business.
@pytest.mark.parametrize("head, status_line, headers", [
    (b"Content-Type: text/plain", "200 OK", [("Content-Type", "text/plain")]),
    (b"Status: 404", "404 Not Found", []),
    (b"Status: 299 Fine Thanks\r\nX-A: b", "299 Fine Thanks", [("X-A", "b")]),
    (b"Location: /x", "302 Found", [("Location", "/x")]),
    (b"Status: 301\r\nLocation: /x", "301 Moved Permanently",
     [("Location", "/x")]),
    (b"location: http://e.example/", "302 Found",
     [("location", "http://e.example/")]),
    (b"Connection: close\r\nX: y", "200 OK", [("Connection", "close"),
                                              ("X", "y")]),
    (b"status:201", "201 Created", []),
    (b"Status: 599", "599 Unknown", []),
    (b"Status: 200 \t", "200 OK", []),
    (b"X-Empty:", "200 OK", [("X-Empty", "")]),
    (b"X-Colon: a:b", "200 OK", [("X-Colon", "a:b")]),
    (b"X-Latin: caf\xe9", "200 OK", [("X-Latin", "caf\xe9")]),
    (b"Name : v", "200 OK", [("Name", "v")]),
])
def test_status_and_headers(head, status_line, headers):
    parsed = parse_head(head + b"\r\n\r\nbody")
    assert (parsed.status_line, parsed.headers, parsed.body) == \
        (status_line, headers, b"body")


@pytest.mark.parametrize("data, head_end, body_start", [
    (b"A: b\r\n\r\nx", 6, 8),
    (b"A: b\n\nx", 5, 6),
    (b"A: b\r\n\nx", 6, 7),
    (b"A: b\n\r\nx", 5, 7),
    (b"A: b\nC: d\r\n\r\n", 11, 13),
    (b"\r\nbody", 0, 2),
    (b"\nbody", 0, 1),
    # An LF-only head whose body holds a CRLF blank line ends at the first.
    (b"A: b\n\nx\r\n\r\ny", 5, 6),
])
def test_where_the_head_ends(data, head_end, body_start):
    assert find_head_end(data) == (head_end, body_start)


@pytest.mark.parametrize("data", [b"", b"A: b", b"A: b\r\n", b"A: b\r\n\r",
                                  b"A: b\nC: d\n", b"\r"])
def test_head_not_ended_yet(data):
    assert find_head_end(data) is None
    assert parse_head(data, final=False) is None
    with pytest.raises(MalformedHead, match="ended before the empty line"):
        parse_head(data)


def test_lf_line_ends():
    head = parse_head(b"Status: 500 Oops\nA: 1\n\nboom")
    assert (head.status, head.reason, head.headers, head.body) == \
        (500, "Oops", [("A", "1")], b"boom")


def test_empty_head_is_a_200_without_headers():
    assert parse_head(b"\r\n\r\nx") == ResponseHead(200, "OK", [], b"\r\nx")


def test_body_is_whatever_follows():
    big = b"\x00\xff" * 50000
    assert parse_head(b"A: b\r\n\r\n" + big).body == big
    assert parse_head(bytearray(b"A: b\r\n\r\n")).body == b""


@pytest.mark.parametrize("head, message", [
    (b"no colon", "header line 1 is not \"Name: value\": 'no colon'"),
    (b"A: b\r\nBad Name: x", "header line 2 is not"),
    (b": no name", "header line 1 is not"),
    (b"A: b\r\n folded", "header line 2 starts with a blank"),
    (b"\tA: b", "header line 1 starts with a blank"),
    (b"A\x01: b", "header line 1 is not"),
    (b"Status: abc", "Status 'abc' is not a 3-digit code"),
    (b"Status: 20", "Status '20' is not"),
    (b"Status: 2000", "Status '2000' is not"),
    (b"Status: \xb2\xb2\xb2", "is not a 3-digit code"),
    (b"Status: 200OK", "Status '200OK' is not"),
    (b"Status: 200\r\nStatus: 404", "line 2: a second Status header"),
    (b"A: b\rc", "header line 1 \\(A\\) holds a control character"),
    (b"A: b\x00", "holds a control character"),
])
def test_malformed_heads(head, message):
    with pytest.raises(MalformedHead, match=message):
        parse_head(head + b"\r\n\r\n")


def test_malformed_is_an_iiswsgi_error_and_a_value_error():
    assert issubclass(MalformedHead, IISWSGIError)
    assert issubclass(MalformedHead, ValueError)


def test_limit_on_a_head_still_coming():
    assert parse_head(b"A: " + b"x" * 100, final=False, limit=200) is None
    with pytest.raises(MalformedHead, match="in the first 50 bytes"):
        parse_head(b"A: " + b"x" * 100, final=False, limit=50)
    # Once the head has ended the limit does not matter.
    assert parse_head(b"A: " + b"x" * 100 + b"\n\n", final=False,
                      limit=50).headers == [("A", "x" * 100)]


def test_incremental_use():
    answer = b"Status: 201\r\nA: b\r\n\r\nbody"
    for cut in range(len(answer)):
        if cut < answer.index(b"\r\n\r\n") + 4:
            assert parse_head(answer[:cut], final=False) is None
    assert parse_head(answer, final=False).status_line == "201 Created"
