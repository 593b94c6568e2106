"""IIS's own error pages in the emulator (iiswsgi.emulator.pages)."""

import time

from iiswsgi.emulator.pages import Page, Refusal, render


def test_detailed_error_page():
    status, headers, body = render(Refusal(
        404, 7, "Denied <extension>.", "detail & more", "0x1", "StaticFile",
        "RequestFilteringModule"), "example.test", "/a.cs?x=<1>")
    assert status == "404 Not Found"
    page = body.decode("utf-8")
    assert "<title>IIS 10.0 Detailed Error - HTTP Error 404.7 - Not Found" \
        in page
    assert "<h2>Denied &lt;extension&gt;.</h2>" in page
    assert "<pre>detail &amp; more</pre>" in page
    for row in ("<th>Module</th><td>RequestFilteringModule</td>",
                "<th>Handler</th><td>StaticFile</td>",
                "<th>Error Code</th><td>0x1</td>",
                "<th>Requested URL</th><td>http://example.test/a.cs?x=&lt;1"
                "&gt;</td>"):
        assert row in page
    assert dict(headers) == {"Content-Type": "text/html; charset=utf-8",
                             "Content-Length": str(len(body))}


def test_503_says_when_to_retry_and_no_empty_rows():
    status, headers, body = render(Refusal(503, 2, "Busy."), "h", "/")
    assert status == "503 Service Unavailable"
    assert ("Retry-After", "1") in headers
    assert b"<th>Handler</th>" not in body and b"<pre>" not in body


def test_page_as_an_answer():
    environ = {"HTTP_HOST": "h:81", "REMOTE_ADDR": "1.2.3.4",
               "REQUEST_METHOD": "GET"}
    page = Page(Refusal(500, 19, "Bad config."), environ, "/x")
    started = []
    page.respond(lambda status, headers: started.append(status), environ,
                 "/x", time.monotonic())
    body = b"".join(page)
    page.close()
    assert started == ["500 Internal Server Error"]
    assert b"http://h:81/x" in body and page.sent == len(body)
