"""The same requests through every real web server in front of the gateway,
compared with the answers of waitress serving the same application
(tests/apps/matrix_app.py).

HTTP client (http.client, or a raw socket where timing or a disconnect
matters) -> web server (tests/support/servers.py, configured from the
README's recipes) -> ``iiswsgi serve app.ini`` -> matrix_app.  Each server
is started once for this module, with its gateway; each test id ends with
the server's name.
"""

import concurrent.futures
import hashlib
import http.client
import json
import os
import socket
import time
import urllib.parse

import pytest

from tests.conftest import require
from tests.support.servers import (
    BIN_DIR, SERVERS, Proc, free_port, server_site, subprocess_env, tcp_ready,
    wait_until)

APP = "call:matrix_app:make_app"
MIB = 1 << 20

#: Headers that say how a response travelled, not what it is (Caddy 2.6
#: passes the CGI Status header on as it came; lighttpd adds Accept-Ranges).
HOP_HEADERS = {"date", "server", "connection", "keep-alive",
               "transfer-encoding", "content-length", "x-pid", "via",
               "x-accel-buffering", "status", "accept-ranges"}


#: HAProxy 2.6 adds ``Content-Length: 0`` to a 304 by itself: the gateway
#: sends none (``cgi-fcgi`` straight to it shows so, and
#: tests/unit/test_responder.py checks it); test_304 checks it is not doubled.
ADDS_ITS_OWN_LENGTH = {("haproxy", 304)}


def on_servers():
    """Parametrise a test over every server (``site``)."""
    return pytest.mark.parametrize("site", list(SERVERS), indirect=True,
                                   ids=list(SERVERS))


# -- the servers ---------------------------------------------------------------

@pytest.fixture(scope="module")
def site(request):
    with server_site(request.param, APP) as running:
        yield running


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """waitress serving matrix_app: the answers to compare with."""
    waitress = os.path.join(BIN_DIR, "waitress-serve")
    require(os.path.isfile(waitress), "waitress is not installed (the test"
            " extra has it)")
    directory = tmp_path_factory.mktemp("waitress")
    port = free_port()
    proc = Proc("waitress", [waitress, "--listen=127.0.0.1:%d" % port,
                             "--threads=24", "matrix_app:application"],
                directory, env=subprocess_env())
    try:
        wait_until(lambda: tcp_ready(port), "waitress on port %d" % port,
                   proc)
        yield port
    finally:
        proc.stop()


# -- requests and answers --------------------------------------------------------

class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name):
        values = self.all(name)
        return values[0] if values else None

    def json(self):
        return json.loads(self.body)

    def normalised(self):
        """What must be the same whichever server answered."""
        headers = {}
        for key, value in self.headers:
            if key.lower() not in HOP_HEADERS:
                headers.setdefault(key.lower(), []).append(value)
        return {"status": self.status, "headers": headers,
                "size": len(self.body),
                "sha256": hashlib.sha256(self.body).hexdigest()}

    def __repr__(self):
        return "HTTP %s %r %r" % (self.status, self.headers, self.body[:300])


def fetch(port, method, path, body=None, headers=None, conn=None,
          timeout=30, encode_chunked=False):
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {},
                     encode_chunked=encode_chunked)
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, response.getheaders(), data)
    finally:
        if own:
            conn.close()


def differences(site, reference, method, path, **kw):
    """The request sent to the server and to waitress: what differs (an
    empty list when nothing does) and the server's answer."""
    body = kw.get("body")
    if callable(body):
        kw_ref = dict(kw, body=body())
        kw = dict(kw, body=body())
    else:
        kw_ref = kw
    got = fetch(site.port, method, path, **kw)
    want = fetch(reference, method, path, **kw_ref)
    found = []
    mine, theirs = got.normalised(), want.normalised()
    for key in ("status", "size", "sha256"):
        if mine[key] != theirs[key]:
            found.append("%s %s: %s is %r, waitress says %r" % (
                method, path, key, mine[key], theirs[key]))
    if mine["headers"] != theirs["headers"]:
        found.append("%s %s: headers %r, waitress sends %r" % (
            method, path, mine["headers"], theirs["headers"]))
    length = got.header("Content-Length")
    if got.status in (204, 304) or str(got.status).startswith("1"):
        if length is not None and (site.name, got.status) not in \
                ADDS_ITS_OWN_LENGTH:
            found.append("%s %s: a %d with Content-Length %s" % (
                method, path, got.status, length))
    elif method != "HEAD" and length is not None and int(length) != len(
            got.body):
        found.append("%s %s: Content-Length %s but %d bytes" % (
            method, path, length, len(got.body)))
    return found, got


def same_as_reference(site, reference, method, path, **kw):
    found, got = differences(site, reference, method, path, **kw)
    assert not found, "%s:\n%s\n%s" % (site.name, "\n".join(found), got)
    return got


# -- the requests ----------------------------------------------------------------

@on_servers()
def test_get_with_query_string(site, reference):
    got = same_as_reference(site, reference, "GET",
                            "/echo/some/where?a=1&b=two%20words&c=%C3%A9")
    assert got.json()["path_info"] == "/echo/some/where"
    assert got.json()["query_string"] == "a=1&b=two%20words&c=%C3%A9"


PATHS = ["/echo/caf%C3%A9/%E2%9C%93", "/echo/a%20b%3Bc/d.e",
         "/echo/%7Euser/x+y", "/echo/%C3%BCber/"]


@on_servers()
def test_utf8_and_encoded_paths(site, reference):
    found = []
    for path in PATHS:
        found += differences(site, reference, "GET", path)[0]
    assert not found, "\n".join(found)
    got = fetch(site.port, "GET", PATHS[0]).json()
    assert got["path_info"].encode("latin-1").decode("utf-8") == "/echo/café/✓"


@on_servers()
def test_head_then_get_on_the_same_connection(site, reference):
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=30)
    try:
        found = []
        for path in ("/big?100000", "/echo/head"):
            got = fetch(site.port, "HEAD", path, conn=conn)
            want = fetch(reference, "HEAD", path)
            assert got.body == b"" and got.status == want.status, got
            if got.normalised()["headers"] != want.normalised()["headers"]:
                found.append("HEAD %s: %r, waitress %r" % (path, got, want))
        after = fetch(site.port, "GET", "/echo/after-head", conn=conn)
    finally:
        conn.close()
    assert not found, "\n".join(found)
    assert after.status == 200, after
    assert after.json()["path_info"] == "/echo/after-head"


@on_servers()
def test_204(site, reference):
    got = same_as_reference(site, reference, "GET", "/status/204")
    assert got.status == 204


@on_servers()
def test_304(site, reference):
    got = same_as_reference(site, reference, "GET", "/status/304")
    assert got.status == 304
    if (site.name, 304) in ADDS_ITS_OWN_LENGTH:
        assert got.all("Content-Length") == ["0"], got


@on_servers()
@pytest.mark.parametrize("code", [404, 500])
def test_error_status(site, reference, code):
    got = same_as_reference(site, reference, "GET", "/status/%d" % code)
    assert got.status == code


@on_servers()
def test_application_error_is_500(site, reference):
    got = fetch(site.port, "GET", "/boom")
    assert got.status == fetch(reference, "GET", "/boom").status == 500, got
    assert b"fails on purpose" not in got.body
    assert fetch(site.port, "GET", "/echo/after-boom").status == 200


@on_servers()
def test_form_post(site, reference):
    body = urllib.parse.urlencode([("name", "Zoë"), ("tick", "✓"),
                                   ("empty", ""), ("name", "again")])
    got = same_as_reference(
        site, reference, "POST", "/form", body=body.encode("ascii"),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert got.json()["fields"][0] == ["name", "Zoë"]


@on_servers()
def test_ten_mib_post(site, reference):
    body = os.urandom(10 * MIB)
    got = same_as_reference(site, reference, "POST", "/upload", body=body,
                            headers={"Content-Type":
                                     "application/octet-stream"})
    assert got.json() == {"size": len(body),
                          "sha256": hashlib.sha256(body).hexdigest()}


@on_servers()
def test_chunked_upload(site, reference):
    # HAProxy needs a chunked body to fit in one buffer (tune.bufsize):
    # 48 KB, in six chunks.
    data = os.urandom(48000)
    pieces = lambda: iter([data[i:i + 8000]  # noqa: E731
                           for i in range(0, len(data), 8000)])
    got = same_as_reference(site, reference, "POST", "/upload", body=pieces,
                            encode_chunked=True)
    assert got.json()["sha256"] == hashlib.sha256(data).hexdigest()


@on_servers()
def test_unread_post_then_next_request(site, reference):
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=8)
    started = time.monotonic()
    try:
        first = fetch(site.port, "POST", "/unread", body=b"u" * (3 * MIB),
                      conn=conn)
        assert first.status == 200, first
        try:
            second = fetch(site.port, "GET", "/echo/next", conn=conn)
        except (http.client.HTTPException, OSError) as error:
            pytest.fail("%s: the connection broke after a request whose body"
                        " the application did not read: %r" % (site.name,
                                                               error))
    finally:
        conn.close()
    assert second.status == 200, second
    assert second.json()["path_info"] == "/echo/next"
    assert time.monotonic() - started < 10


@on_servers()
def test_48_kb_of_request_headers(site, reference):
    headers = {"X-Fill-%02d" % n: ("%02d" % n) * 500 for n in range(48)}
    got = same_as_reference(site, reference, "GET", "/headers",
                            headers=headers)
    assert got.json()["count"] == 48
    assert got.json()["size"] == 48000


@on_servers()
def test_40_response_headers(site, reference):
    got = same_as_reference(site, reference, "GET", "/many-headers")
    assert got.all("Set-Cookie") == ["first=1; Path=/",
                                     "second=2; Path=/; HttpOnly"]
    assert len(got.all("X-Header-35")) == 1


def timed_lines(port, path, count, timeout=15):
    """``(head, body, arrivals)``: the seconds after the request at which
    each of the ``count`` lines first arrived."""
    markers = [b"line %d\n" % n for n in range(count)]
    arrivals, raw = {}, b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Connection: close\r\n\r\n" % path.encode("ascii"))
        start = time.monotonic()
        while True:
            data = s.recv(65536)
            if not data:
                break
            raw += data
            for n, marker in enumerate(markers):
                if n not in arrivals and marker in raw:
                    arrivals[n] = time.monotonic() - start
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, body, arrivals


@on_servers()
def test_streaming(site, reference):
    same_as_reference(site, reference, "GET", "/stream?5")
    head, _, arrivals = timed_lines(site.port, "/stream?5", 5)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert sorted(arrivals) == list(range(5)), (head, arrivals)
    # 0.3 s between lines: held back, they would all come at once.
    assert arrivals[0] < 0.9, arrivals
    assert arrivals[4] - arrivals[0] >= 0.8, arrivals


@on_servers()
def test_twenty_mib_response(site, reference):
    got = same_as_reference(site, reference, "GET", "/big?%d" % (20 * MIB))
    assert len(got.body) == 20 * MIB


@on_servers()
def test_100_requests_on_one_connection(site, reference):
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=30)
    ref = http.client.HTTPConnection("127.0.0.1", reference, timeout=30)
    try:
        for n in range(100):
            path = "/echo/keep/%d?n=%d" % (n, n)
            got = fetch(site.port, "GET", path, conn=conn)
            want = fetch(reference, "GET", path, conn=ref)
            assert (got.status, got.body) == (want.status, want.body), (n, got)
    finally:
        conn.close()
        ref.close()


@on_servers()
def test_20_concurrent_clients(site, reference):
    def client(n):
        path = "/echo/client/%d" % n
        slow = fetch(site.port, "GET", "/slow?0.5")
        return slow, fetch(site.port, "GET", path), path

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(client, range(20)))
    elapsed = time.monotonic() - started
    for slow, got, path in results:
        assert slow.status == 200, slow
        assert got.status == 200 and got.json()["path_info"] == path, got
    # One after another they would take 10 s.
    assert elapsed < 8, "%s: 20 clients took %.1f s" % (site.name, elapsed)


@on_servers()
def test_mounted_under_app(site, reference):
    got = fetch(site.port, "GET", "/app/echo/deep/er?q=1")
    assert got.status == 200, got
    assert got.json() == {"method": "GET", "script_name": "/app",
                          "path_info": "/echo/deep/er", "query_string": "q=1",
                          "body_size": 0}
    root = fetch(site.port, "GET", "/echo/app")
    assert (root.json()["script_name"], root.json()["path_info"]) == (
        "", "/echo/app")


@on_servers()
def test_host_header_keeps_the_port(site, reference):
    got = fetch(site.port, "GET", "/host", headers={
        "Host": "127.0.0.1:%d" % site.port})
    assert got.json() == {"host": "127.0.0.1:%d" % site.port}, got


def _fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


@on_servers()
def test_client_gone_mid_download_leaks_no_descriptors(site, reference):
    before = fetch(site.port, "GET", "/fds").json()
    pid = before["pid"]
    require(os.path.isdir("/proc/%d/fd" % pid), "no /proc/PID/fd")
    baseline = _fds(pid)
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", site.port),
                                      timeout=10) as s:
            s.sendall(b"GET /big?%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                      % (20 * MIB))
            received = 0
            while received < 256 * 1024:
                data = s.recv(65536)
                assert data, "%s closed after %d bytes" % (site.name,
                                                           received)
                received += len(data)
    after = fetch(site.port, "GET", "/echo/after-abort")
    assert after.status == 200, after
    # The server may keep a FastCGI connection or two open to reuse.
    deadline = time.monotonic() + 10
    while _fds(pid) > baseline + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _fds(pid) <= baseline + 2, "%s: the gateway (pid %d) had %d" \
        " descriptors, %d after 5 aborted downloads: %s" % (
            site.name, pid, baseline, _fds(pid),
            sorted(os.readlink("/proc/%d/fd/%s" % (pid, fd))
                   for fd in os.listdir("/proc/%d/fd" % pid)))
