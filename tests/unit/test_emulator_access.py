"""The emulator's access log (iiswsgi.emulator.access): one line per
request, whatever the request holds."""

import logging
import time

from iiswsgi.emulator.pages import Page, Refusal


def test_access_line_escapes_what_the_request_sent(caplog):
    answer = Page(Refusal(404, 0, "gone"), {}, "/x")
    environ = {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET\r\n"}
    answer.respond(lambda status, headers: None, environ,
                   "/a\r\n127.0.0.1 \"GET /forged\" 200 0 0.001s\x1b[2J",
                   time.monotonic())
    with caplog.at_level(logging.INFO, logger="iiswsgi.emulator.access"):
        b"".join(answer)
        answer.close()
    (record,) = caplog.records
    line = record.getMessage()
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.startswith('127.0.0.1 "GET\\x0d\\x0a /a\\x0d\\x0a127.0.0.1')
    assert "\\x1b[2J" in line and " 404 " in line
