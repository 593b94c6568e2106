"""iiswsgi emulate where a client or a site's sub-folder tries what IIS
refuses: unregistered FastCGI processes, URLs IIS normalises or rejects,
request limits, an application's own Status header, idle connections;
and what IIS passes or adds (forwarding headers, caching headers).  Real
HTTP on loopback, real FastCGI processes."""

import http.client
import json
import logging
import os
import socket
import sys
import time

import pytest

from tests.integration.test_emulate import (ROOT, emulating, fetch,
                                            fetch_json, write_site)
from tests.support.apphost import write_apphost_config

pytestmark = pytest.mark.skipif(os.name == "nt",
                                reason="the emulator runs on POSIX")


def raw_request(server, target, method="GET", headers=None, body=b""):
    """(status, headers, body) of a request sent with ``target`` exactly
    as given (no client-side quoting)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port,
                                            timeout=30)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def _chunked_post(server, path, body):
    """The whole raw answer to a POST of ``body`` in one chunk."""
    with socket.create_connection(("127.0.0.1", server.port),
                                  timeout=30) as connection:
        connection.sendall(
            b"POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
            % (path.encode("ascii"), len(body), body))
        answer = b""
        while True:
            data = connection.recv(65536)
            if not data:
                return answer
            answer += data


def _static_folder(site):
    static = site / "static"
    static.mkdir()
    (static / "style.css").write_text("body { color: red }")
    (static / "web.config").write_text(
        '<configuration><system.webServer><handlers>'
        '<remove name="Python FastCGI" /></handlers></system.webServer>'
        '</configuration>')
    return static


# -- 2. only registered FastCGI applications run ---------------------------

def test_a_nested_web_config_cannot_start_a_process(tmp_path):
    site = write_site(tmp_path / "site")
    uploads = site / "uploads"
    uploads.mkdir()
    marker = tmp_path / "ran"
    script = tmp_path / "evil.sh"
    script.write_text("#!/bin/sh\ntouch %s\n" % marker)
    script.chmod(0o755)
    (uploads / "web.config").write_text(
        '<configuration><system.webServer><handlers><clear />'
        '<add name="evil" path="*" verb="*" modules="FastCgiModule"'
        ' scriptProcessor="/bin/sh|%s" resourceType="Unspecified" />'
        '</handlers></system.webServer></configuration>' % script)
    with emulating(site) as server:
        status, _, body = fetch(server, "/uploads/x")
        ok = fetch_json(server, "/fine")
        pools = len(server.emulator.pools)
    assert status == 500, body
    assert b"evil scriptProcessor could not be found in &lt;fastCGI&gt;" \
        b" application configuration." in body
    assert b"FastCgiModule" in body and b"0x80070585" in body
    assert not marker.exists()
    # The site's own handler is registered, and is the only pool.
    assert ok["PATH_INFO"] == "/fine"
    assert pools == 1


def test_the_site_web_config_registers_its_handler_with_a_log_line(
        tmp_path, caplog):
    site = write_site(tmp_path / "site")
    with caplog.at_level(logging.INFO, logger="iiswsgi.emulator"):
        with emulating(site) as server:
            fetch_json(server, "/")
    lines = [record.getMessage() for record in caplog.records
             if "registered FastCGI application" in record.getMessage()]
    assert len(lines) == 1, lines
    assert sys.executable in lines[0]
    assert str(site / "web.config") in lines[0]


def test_with_apphost_only_its_fastcgi_section_registers(tmp_path):
    # <fastCgi> in the site's web.config registers nothing when an
    # applicationHost.config is given: IIS reads <fastCgi> only there.
    site = write_site(tmp_path / "site", fastcgi={"maxInstances": "1"})
    config = write_apphost_config(tmp_path / "applicationHost.config",
                                  sites=(), fastcgi=[])
    with emulating(site, config) as server:
        status, _, body = fetch(server, "/")
    assert status == 500
    assert b"scriptProcessor could not be found in &lt;fastCGI&gt;" in body
    assert str(config).encode() in body


# -- 3. URLs as IIS normalises or refuses them -----------------------------

def test_backslashes_are_slashes_as_in_iis(tmp_path):
    site = write_site(tmp_path / "site")
    _static_folder(site)
    with emulating(site) as server:
        hidden = raw_request(server, "/static\\..\\web.config")
        hidden_encoded = raw_request(server, "/static%5C..%5Cweb.config")
        app = raw_request(server, "/admin\\..\\public")
        css = raw_request(server, "/static\\style.css")
    assert hidden[0] == 404 and b"404.8" in hidden[2], hidden
    assert hidden_encoded[0] == 404 and b"404.8" in hidden_encoded[2]
    assert app[0] == 200, app
    assert json.loads(app[2])["PATH_INFO"] == "/public"
    assert css[0] == 200 and css[2] == b"body { color: red }"


def test_percent_u_escapes_are_decoded(tmp_path):
    site = write_site(tmp_path / "site")
    with emulating(site) as server:
        status, _, body = raw_request(server, "/caf%u00e9")
    assert status == 200, body
    assert json.loads(body)["PATH_INFO"] == \
        "/café".encode("utf-8").decode("latin-1")


@pytest.mark.parametrize("target", ["/a%00b", "/x%0d%0aSet-Cookie:%20a=b",
                                    "/tab%09", "/del%7f"])
def test_control_characters_are_a_400(tmp_path, target):
    site = write_site(tmp_path / "site")
    with emulating(site) as server:
        status, _, body = raw_request(server, target)
        again = fetch_json(server, "/")
    assert status == 400, body
    assert b"The request URL is invalid." in body
    assert again["PATH_INFO"] == "/"


def test_absolute_form_targets_honour_nested_web_configs(tmp_path):
    site = write_site(tmp_path / "site")
    _static_folder(site)
    with emulating(site) as server:
        base = "http://127.0.0.1:%d" % server.port
        css = raw_request(server, base + "/static/style.css")
        hidden = raw_request(server, base + "/static/web.config")
        app = raw_request(server, base + "/some/where?q=1")
    assert css[0] == 200 and css[2] == b"body { color: red }", css
    assert hidden[0] == 404 and b"404.8" in hidden[2]
    data = json.loads(app[2])
    assert (data["PATH_INFO"], data["REQUEST_URI"]) == (
        "/some/where", "/some/where?q=1")


# -- 1. requestLimits and denyUrlSequences ---------------------------------

def test_request_limits_at_iis_defaults(tmp_path):
    site = write_site(tmp_path / "site")
    with emulating(site) as server:
        long_url = raw_request(server, "/" + "a" * 4096)
        fits_url = raw_request(server, "/" + "a" * 4095)
        long_query = raw_request(server, "/?" + "q" * 2049)
        fits_query = raw_request(server, "/?" + "q" * 2048)
        large = raw_request(server, "/echo", "POST",
                            {"Content-Type": "application/octet-stream"},
                            b"x" * 30000001)
    assert long_url[0] == 404 and b"404.14" in long_url[2]
    assert fits_url[0] == 200
    assert long_query[0] == 404 and b"404.15" in long_query[2]
    assert fits_query[0] == 200
    assert large[0] == 404 and b"404.13" in large[2], large[2][:300]


def test_request_limits_and_url_sequences_of_the_site(tmp_path):
    site = write_site(tmp_path / "site", extra=(
        "<security><requestFiltering>"
        '<requestLimits maxAllowedContentLength="1000" maxUrl="64"'
        ' maxQueryString="16" />'
        '<denyUrlSequences><add sequence="./" /><add sequence="~" />'
        "</denyUrlSequences></requestFiltering></security>"))
    with emulating(site) as server:
        tilde = raw_request(server, "/home/~user")
        dot = raw_request(server, "/a/./b")
        long_url = raw_request(server, "/" + "a" * 64)
        long_query = raw_request(server, "/?" + "q" * 17)
        large = raw_request(server, "/echo", "POST", {}, b"x" * 1001)
        small = raw_request(server, "/echo", "POST", {}, b"x" * 1000)
        chunked = _chunked_post(server, "/echo", b"x" * 1001)
    assert tilde[0] == 404 and b"404.5" in tilde[2]
    assert dot[0] == 404 and b"404.5" in dot[2]
    assert long_url[0] == 404 and b"404.14" in long_url[2]
    assert long_query[0] == 404 and b"404.15" in long_query[2]
    assert large[0] == 404 and b"404.13" in large[2]
    assert small[0] == 200 and json.loads(small[2])["size"] == 1000
    # Without a Content-Length too: the body's length once received.
    assert chunked.startswith(b"HTTP/1.1 404 ") and b"404.13" in chunked


# -- 4. an application's own Status header ---------------------------------

def test_an_application_status_header_is_refused(tmp_path):
    site = write_site(tmp_path / "site")
    with emulating(site) as server:
        status, headers, body = raw_request(server, "/statusheader")
    assert status == 500, (status, headers.get("Location"), body)
    assert headers.get("Location") is None
    assert b"status header" not in body
    # The gateway refuses it at start_response (its own 500), before a
    # second Status line could reach the web server.
    assert b"The application failed to answer this request" in body
    assert b"malformed headers" not in body


# -- 5. idle connections ---------------------------------------------------

def test_a_hundred_idle_connections_do_not_stall_a_request(tmp_path):
    site = write_site(tmp_path / "site")
    idle = []
    with emulating(site) as server:
        fetch_json(server, "/")               # the process is warm
        try:
            for number in range(100):
                connection = socket.create_connection(
                    ("127.0.0.1", server.port), timeout=10)
                if number % 2:
                    # Half of them a request begun and never finished.
                    connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                idle.append(connection)
            time.sleep(0.5)
            started = time.monotonic()
            status, _, _ = fetch(server, "/", timeout=30)
            elapsed = time.monotonic() - started
        finally:
            for connection in idle:
                connection.close()
    assert status == 200
    assert elapsed < 5, elapsed


# -- 6. forwarding headers -------------------------------------------------

def test_forwarding_headers_reach_the_application(tmp_path):
    site = write_site(tmp_path / "site")
    with emulating(site) as server:
        data = fetch_json(server, "/", headers={
            "X-Forwarded-For": "203.0.113.7, 10.0.0.1",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "example.com",
            "Forwarded": "for=203.0.113.7;proto=https"})
    assert data["HTTP_X_FORWARDED_FOR"] == "203.0.113.7, 10.0.0.1"
    assert data["HTTP_X_FORWARDED_PROTO"] == "https"
    assert data["HTTP_X_FORWARDED_HOST"] == "example.com"
    assert data["HTTP_FORWARDED"] == "for=203.0.113.7;proto=https"
    # Trusted for nothing.
    assert data["REMOTE_ADDR"] == "127.0.0.1"
    assert data["wsgi.url_scheme"] == "http"


# -- 7. caching headers of static files ------------------------------------

def test_static_files_have_validators_and_answer_304(tmp_path):
    site = write_site(tmp_path / "site")
    static = _static_folder(site)
    os.utime(static / "style.css", (1700000000, 1700000000))
    with emulating(site) as server:
        first = fetch(server, "/static/style.css")
        etag = first[1]["ETag"]
        modified = first[1]["Last-Modified"]
        by_tag = fetch(server, "/static/style.css",
                       headers={"If-None-Match": etag})
        by_date = fetch(server, "/static/style.css",
                        headers={"If-Modified-Since": modified})
        other_tag = fetch(server, "/static/style.css",
                          headers={"If-None-Match": '"0:0"',
                                   "If-Modified-Since": modified})
        older = fetch(server, "/static/style.css", headers={
            "If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert first[0] == 200
    # 1700000000 s after 1970 as a FILETIME, in hex.
    assert etag == '"%x:0"' % (1700000000 * 10000000 + 116444736000000000)
    assert modified == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert (by_tag[0], by_tag[2]) == (304, b"")
    assert by_tag[1]["ETag"] == etag
    assert (by_date[0], by_date[2]) == (304, b"")
    assert other_tag[0] == 200          # If-None-Match wins
    assert older[0] == 200 and older[2] == b"body { color: red }"



# -- 8. what the README shows ----------------------------------------------

def _readme_block(after):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as stream:
        text = stream.read()
    start = text.index("```xml\n", text.index(after)) + len("```xml\n")
    return text[start:text.index("```", start)]


def test_the_readme_apphost_sample_serves_both_applications(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_text("the root application")
    app = write_site(tmp_path / "myapp")
    sample = _readme_block("An **applicationHost.config for `--apphost`**")
    config = tmp_path / "applicationHost.config"
    config.write_text(sample.replace("/srv/www/root", str(root))
                      .replace("/srv/www/myapp", str(app))
                      .replace("/srv/www/.venv/bin/python", sys.executable))
    with emulating(app, str(config)) as server:
        urls = server.urls()
        data = fetch_json(server, "/myapp/x")
        index = fetch(server, "/")
    assert urls[0].endswith("/myapp/")
    assert (data["SCRIPT_NAME"], data["PATH_INFO"]) == ("/myapp", "/x")
    assert (index[0], index[2]) == (200, b"the root application")


def test_the_readme_static_folder_web_config(tmp_path):
    site = write_site(tmp_path / "site")
    static = site / "static"
    static.mkdir()
    (static / "app.css").write_text("p {}")
    (static / "web.config").write_text(_readme_block(
        "**Static files of a Flask app and of the site**"))
    with emulating(site) as server:
        css = fetch(server, "/static/app.css")
        hidden = fetch(server, "/static/web.config")
        post = fetch(server, "/static/app.css", data=b"x")
    assert css[0] == 200 and css[2] == b"p {}" and css[1]["ETag"]
    assert hidden[0] == 404 and b"404.8" in hidden[2]
    # POST is no verb of the static handler: IIS's 405, not the app.
    assert post[0] == 405, post
