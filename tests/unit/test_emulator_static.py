"""IIS's static file handler in the emulator (iiswsgi.emulator.static):
real files, IIS's MIME map and refusals."""

import os
import time

import pytest

from iiswsgi.emulator.config import Application
from iiswsgi.emulator.pages import Refusal
from iiswsgi.emulator.static import StaticFile, entity_tag
from iiswsgi.iis.webconfig import StaticContent


def serve(root, relative, method="GET", content=None):
    answer = StaticFile(Application("/", str(root)), relative,
                        "/" + relative, method, content or StaticContent())
    started = []
    answer.respond(lambda status, headers: started.append((status, headers)),
                   {}, "/" + relative, time.monotonic())
    body = b"".join(answer)
    answer.close()
    return started[0][0], dict(started[0][1]), body, answer.sent


def refusal(root, relative, method="GET", content=None):
    with pytest.raises(Refusal) as refused:
        serve(root, relative, method, content)
    return refused.value.status, refused.value.substatus


def test_file_with_its_mime_type(tmp_path):
    (tmp_path / "style.css").write_bytes(b"a" * 70000)
    status, headers, body, sent = serve(tmp_path, "style.css")
    assert (status, headers["Content-Type"], headers["Content-Length"]) == \
        ("200 OK", "text/css", "70000")
    assert body == b"a" * 70000 and sent == 70000


def test_default_document_and_no_listing(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "empty").mkdir()
    (tmp_path / "docs" / "index.html").write_text("<p>hi</p>")
    assert serve(tmp_path, "docs")[2] == b"<p>hi</p>"
    assert refusal(tmp_path, "empty") == (403, 14)


def test_refusals(tmp_path):
    (tmp_path / "notes.md").write_text("x")
    (tmp_path / "a.txt").write_text("x")
    assert refusal(tmp_path, "missing.txt") == (404, 0)
    assert refusal(tmp_path, "notes.md") == (404, 3)      # not in the map
    assert refusal(tmp_path, "a.txt", "POST") == (405, 0)
    assert refusal(tmp_path, "../outside.txt") == (404, 0)
    markdown = StaticContent(dict(StaticContent().mime_map,
                                  **{".md": "text/markdown"}))
    assert serve(tmp_path, "notes.md", content=markdown)[1][
        "Content-Type"] == "text/markdown"


def conditional(root, relative, headers):
    answer = StaticFile(Application("/", str(root)), relative,
                        "/" + relative, "GET", StaticContent(), headers)
    started = []
    answer.respond(lambda status, headers: started.append((status, headers)),
                   {}, "/" + relative, time.monotonic())
    body = b"".join(answer)
    answer.close()
    return started[0][0], dict(started[0][1]), body


def test_validators_as_iis_sends_them(tmp_path):
    (tmp_path / "a.txt").write_text("abc")
    os.utime(tmp_path / "a.txt", ns=(0, 1700000000123456700))
    status, headers, body, _ = serve(tmp_path, "a.txt")
    assert status == "200 OK" and body == b"abc"
    assert headers["ETag"] == entity_tag(1700000000123456700) == \
        '"%x:0"' % (17000000001234567 + 116444736000000000)
    assert headers["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"


@pytest.mark.parametrize("make_headers, modified", [
    (lambda tag, date: {"HTTP_IF_NONE_MATCH": tag}, False),
    (lambda tag, date: {"HTTP_IF_NONE_MATCH": '"x", W/' + tag}, False),
    (lambda tag, date: {"HTTP_IF_NONE_MATCH": "*"}, False),
    (lambda tag, date: {"HTTP_IF_NONE_MATCH": '"other:0"'}, True),
    (lambda tag, date: {"HTTP_IF_MODIFIED_SINCE": date}, False),
    (lambda tag, date: {"HTTP_IF_MODIFIED_SINCE":
                        "Sat, 01 Jan 2000 00:00:00 GMT"}, True),
    (lambda tag, date: {"HTTP_IF_MODIFIED_SINCE": "not a date"}, True),
    # If-None-Match decides when both are there.
    (lambda tag, date: {"HTTP_IF_NONE_MATCH": '"other:0"',
                        "HTTP_IF_MODIFIED_SINCE": date}, True),
])
def test_conditional_requests(tmp_path, make_headers, modified):
    (tmp_path / "a.txt").write_text("abc")
    _, headers, _, _ = serve(tmp_path, "a.txt")
    status, got, body = conditional(tmp_path, "a.txt", make_headers(
        headers["ETag"], headers["Last-Modified"]))
    if modified:
        assert (status, body) == ("200 OK", b"abc")
    else:
        assert (status, body) == ("304 Not Modified", b"")
        assert got["ETag"] == headers["ETag"]
        assert "Content-Length" not in got
