"""End to end through nginx: HTTP client -> nginx (fastcgi_pass to an
upstream with keepalive and fastcgi_keep_conn) -> ``iiswsgi serve INI
--socket SOCK`` -> WSGI applications (sample_apps.router, Flask, Django).
"""

import concurrent.futures
import hashlib
import http.client
import json
import os
import signal
import socket
import time

import pytest

from tests.integration.peers_support import multipart, \
    nginx_site, require_binary, timed_get

ROUTER = "call:peer_apps:make_router"
BIG = 300000
MAX_BODY = 8 << 20
#: nginx's fastcgi_read_timeout for the router site: well above what any
#: request here takes, and the bound on how long a stuck request hangs.
READ_TIMEOUT = 4


def expected_big(size):
    return bytes(range(256)) * (size // 256) + b"x" * (size % 256)


@pytest.fixture(scope="module")
def nginx_binary():
    return require_binary("nginx", "/usr/sbin/nginx")


@pytest.fixture(scope="module")
def site(nginx_binary, tmp_path_factory):
    with nginx_site(nginx_binary, tmp_path_factory.mktemp("nginx-router"),
                    ROUTER, server_options={"max_body": MAX_BODY},
                    read_timeout=READ_TIMEOUT) as running:
        yield running


@pytest.fixture(scope="module")
def flask_site(nginx_binary, tmp_path_factory):
    directory = tmp_path_factory.mktemp("nginx-flask")
    uploads = directory / "uploads"
    with nginx_site(nginx_binary, directory, "call:flask_app:make_app",
                    app_options={"upload_dir": uploads}) as running:
        running.uploads = uploads
        yield running


@pytest.fixture(scope="module")
def django_site(nginx_binary, tmp_path_factory):
    with nginx_site(nginx_binary, tmp_path_factory.mktemp("nginx-django"),
                    "call:django_wsgi:make_app") as running:
        yield running


# -- sample_apps.router ------------------------------------------------------

def test_get_with_query_string(site):
    environ = site.get_json("/some/where?a=1&b=two%20words")
    assert environ["PATH_INFO"] == "/some/where"
    assert environ["SCRIPT_NAME"] == ""
    assert environ["QUERY_STRING"] == "a=1&b=two%20words"
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["SERVER_PORT"] == str(site.port)
    assert environ["SERVER_SOFTWARE"].startswith("nginx/")
    assert environ["HTTP_HOST"] == "127.0.0.1:%d" % site.port
    # Listening with threads = 8: requests are served on several threads.
    assert environ["wsgi.multithread"] is True
    assert environ["pid"] == site.gateway.pid


def test_utf8_path_arrives_as_latin1_text(site):
    environ = site.get_json("/caf%C3%A9/%E2%9C%93?q=%C3%A9")
    assert environ["PATH_INFO"] == (
        "/café/✓".encode("utf-8").decode("latin-1"))
    assert environ["PATH_INFO"].encode("latin-1").decode("utf-8") == (
        "/café/✓")
    assert environ["QUERY_STRING"] == "q=%C3%A9"
    assert environ["REQUEST_URI"] == "/caf%C3%A9/%E2%9C%93?q=%C3%A9"


def test_five_mib_upload(site):
    body = os.urandom(5 * 1024 * 1024)
    response = site.request("POST", "/echo", body=body, headers={
        "Content-Type": "application/octet-stream"})
    assert response.status == 200, response.describe()
    answer = response.json()
    assert answer["size"] == len(body)
    assert answer["sha256"] == hashlib.sha256(body).hexdigest()
    assert answer["pid"] == site.gateway.pid


def _gateway_sockets(pid):
    fd_dir = "/proc/%d/fd" % pid
    count = 0
    for name in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, name)).startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def test_many_requests_over_keep_alive(site):
    conn = site.connection()
    try:
        pids = set()
        for n in range(200):
            response = site.get("/count?n=%d" % n, conn=conn)
            assert response.status == 200, response.describe()
            environ = response.json()
            assert environ["QUERY_STRING"] == "n=%d" % n
            assert environ["PATH_INFO"] == "/count"
            pids.add(environ["pid"])
    finally:
        conn.close()
    assert pids == {site.gateway.pid}
    if os.path.isdir("/proc/%d/fd" % site.gateway.pid):
        # The listening socket plus at least one FastCGI connection that
        # nginx keeps open (keepalive 4, fastcgi_keep_conn on).
        assert _gateway_sockets(site.gateway.pid) >= 2
    assert site.gateway.alive(), site.describe()


def test_concurrent_slow_requests_run_on_threads(site):
    def slow(_):
        started = time.monotonic()
        response = site.get("/slow?1", timeout=15)
        return response, time.monotonic() - started

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(slow, range(4)))
    elapsed = time.monotonic() - started
    for response, _ in results:
        assert response.status == 200, response.describe()
        assert response.json() == {"slow": True, "pid": site.gateway.pid}
    assert all(took >= 0.95 for _, took in results)
    assert elapsed < 2.5, "4 x 1 s requests took %.2f s" % elapsed


def test_streaming_is_not_buffered(site):
    markers = [b"chunk %d\n" % n for n in range(5)]
    status, headers, body, arrivals = timed_get(site.port, "/stream?5",
                                                markers)
    assert status.startswith("HTTP/1.1 200"), (status, headers, body)
    assert body == b"".join(markers)
    assert arrivals[markers[0]] < 1.0, arrivals
    # The application sleeps 50 ms after each chunk: chunk 4 comes about
    # 0.2 s after chunk 0 unless someone held the response back.
    assert arrivals[markers[4]] - arrivals[markers[0]] >= 0.15, arrivals


def test_response_larger_than_one_record(site):
    response = site.get("/big?%d" % BIG)
    assert response.status == 200, response.describe()
    assert len(response.body) == BIG
    assert response.body == expected_big(BIG)
    assert response.header("Content-Length") == str(BIG)


def test_write_callable_and_file_wrapper(site):
    written = site.get("/write")
    assert (written.status, written.body) == (200, b"written and returned")
    wrapped = site.get("/file")
    assert (wrapped.status, wrapped.body) == (200, b"f" * 100000)


def test_application_error_then_next_request(site):
    failed = site.get("/boom")
    assert failed.status == 500, failed.describe()
    assert b"500 Internal Server Error" in failed.body
    assert b"boom on purpose" not in failed.body  # no traceback shown
    environ = site.get_json("/after-boom")
    assert environ["PATH_INFO"] == "/after-boom"
    assert environ["pid"] == site.gateway.pid
    assert site.gateway.alive(), site.describe()
    with open(os.path.join(site.directory, "gateway.log"),
              encoding="utf-8") as f:
        log = f.read()
    assert "boom on purpose" in log  # the traceback is in the log


def test_non_ascii_request_header(site):
    conn = site.connection()
    try:
        conn.putrequest("GET", "/headers")
        conn.putheader("X-Name", "café".encode("utf-8"))
        conn.endheaders()
        response = conn.getresponse()
        environ = json.loads(response.read())
    finally:
        conn.close()
    assert environ["HTTP_X_NAME"] == "café".encode("utf-8").decode("latin-1")


def test_chunked_request_body(site):
    # nginx reads the whole chunked body and sends its CONTENT_LENGTH.
    body = os.urandom(700000)
    conn = site.connection()
    try:
        conn.request("POST", "/echo",
                     body=iter([body[i:i + 65536]
                                for i in range(0, len(body), 65536)]),
                     encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        response = conn.getresponse()
        answer = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 200
    assert answer["size"] == len(body)
    assert answer["sha256"] == hashlib.sha256(body).hexdigest()


def test_client_gone_during_stream_then_next_request(site):
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as s:
        s.sendall(b"GET /stream?60 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = b""
        while b"chunk 0\n" not in received:
            data = s.recv(4096)
            assert data, received
            received += data
    # nginx closes its FastCGI connection; the gateway notices on its next
    # write (within 50 ms) and carries on.
    time.sleep(0.3)
    environ = site.get_json("/after-abort")
    assert environ["PATH_INFO"] == "/after-abort"
    assert environ["pid"] == site.gateway.pid
    assert site.gateway.alive(), site.describe()


def test_body_over_max_body_is_413(site):
    response = site.request("POST", "/echo", body=b"x" * (MAX_BODY + 1))
    assert response.status == 413, response.describe()
    assert b"413 Content Too Large" in response.body
    assert site.get_json("/after-413")["pid"] == site.gateway.pid


@pytest.mark.parametrize("path, size, status", [
    ("/ignores-the-body", MAX_BODY, 200),
    ("/echo", MAX_BODY + 1, 413),
], ids=["unread-body", "over-max-body"])
def test_unread_body_then_next_request_on_same_connection(site, path, size,
                                                           status):
    conn = site.connection(timeout=READ_TIMEOUT + 10)
    started = time.monotonic()
    try:
        first = site.request("POST", path, body=b"u" * size, conn=conn)
        assert first.status == status, first.describe()
        try:
            second = site.request("GET", "/next", conn=conn)
        except (http.client.HTTPException, OSError) as error:
            pytest.fail("the keep-alive connection broke %.1f s after a"
                        " request whose body the application did not read:"
                        " %r" % (time.monotonic() - started, error))
    finally:
        conn.close()
    assert second.status == 200, second.describe()
    assert second.json()["PATH_INFO"] == "/next"
    assert time.monotonic() - started < READ_TIMEOUT


# -- more connections than threads ----------------------------------------------

def test_more_concurrent_requests_than_threads(nginx_binary, tmp_path):
    with nginx_site(nginx_binary, tmp_path, ROUTER,
                    server_options={"threads": 2}, read_timeout=3) as small:
        # Each client keeps its connection open until all are done, so
        # nginx never drops a FastCGI connection because its client left.
        conns = [small.connection(timeout=15) for _ in range(4)]
        try:
            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                results = list(pool.map(
                    lambda conn: small.get("/slow?0.5", conn=conn), conns))
            elapsed = time.monotonic() - started
        finally:
            for conn in conns:
                conn.close()
    # Two threads, four half-second requests: two rounds, about 1 s.
    assert [r.status for r in results] == [200] * 4, [
        r.describe() for r in results]
    assert elapsed < 2.5, elapsed


# -- stopping ------------------------------------------------------------------

def test_sigterm_with_idle_keepalive_connections(nginx_binary, tmp_path):
    with nginx_site(nginx_binary, tmp_path, ROUTER) as own:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda _: own.get_json("/slow?0.2"), range(3)))
        # nginx now keeps FastCGI connections open and idle.
        started = time.monotonic()
        own.gateway.popen.send_signal(signal.SIGTERM)
        assert own.gateway.popen.wait(5) == 0, own.describe()
        assert time.monotonic() - started < 3
        assert not os.path.exists(own.sock)
        gone = own.get("/after-stop")
        assert gone.status == 502, gone.describe()
        with open(os.path.join(own.directory, "gateway.log"),
                  encoding="utf-8") as f:
            log = f.read()
        assert "stopping: signal SIGTERM" in log
        assert "exiting after" in log


# -- Flask --------------------------------------------------------------------

def test_flask_page(flask_site):
    page = flask_site.get_json("/?x=1&x=2&y=%C3%A9")
    assert page["app"] == "flask"
    assert page["path"] == "/"
    assert page["script_root"] == ""
    assert page["args"] == {"x": ["1", "2"], "y": ["é"]}
    assert page["pid"] == flask_site.gateway.pid


def test_flask_file_upload(flask_site):
    content = os.urandom(2 * 1024 * 1024 + 17)
    content_type, body = multipart(
        {"note": "naïve ✓"},
        {"file": ("report data.bin", content, "application/octet-stream")})
    response = flask_site.request("POST", "/upload", body=body,
                                  headers={"Content-Type": content_type})
    assert response.status == 200, response.describe()
    answer = response.json()
    assert answer["filename"] == "report data.bin"
    assert answer["content_type"] == "application/octet-stream"
    assert answer["note"] == "naïve ✓"
    assert answer["size"] == len(content)
    assert answer["sha256"] == hashlib.sha256(content).hexdigest()
    saved = flask_site.uploads / "report_data.bin"
    assert answer["saved"] == str(saved)
    assert saved.read_bytes() == content


def test_flask_streaming(flask_site):
    markers = [b"flask chunk %d\n" % n for n in range(5)]
    status, headers, body, arrivals = timed_get(flask_site.port,
                                                "/stream?n=5", markers)
    assert status.startswith("HTTP/1.1 200"), (status, headers, body)
    assert body == b"".join(markers)
    assert arrivals[markers[0]] < 1.0, arrivals
    assert arrivals[markers[4]] - arrivals[markers[0]] >= 0.15, arrivals


# -- Django -------------------------------------------------------------------

def test_django_page(django_site):
    response = django_site.get("/")
    assert response.status == 200, django_site.describe()
    assert response.body == (
        b"Hello from Django, pid %d\n" % django_site.gateway.pid)
    assert response.header("Content-Type") == "text/plain; charset=utf-8"


def test_django_non_ascii_path(django_site):
    response = django_site.get(
        "/echo/caf%C3%A9/%E2%9C%93?name=%C3%A9t%C3%A9&x=1&x=2")
    assert response.status == 200, response.describe()
    answer = response.json()
    assert answer["path"] == "/echo/café/✓"
    assert answer["path_info"] == "/echo/café/✓"
    assert answer["rest"] == "café/✓"
    assert answer["get"] == {"name": ["été"], "x": ["1", "2"]}
    assert answer["script_name"] == ""


def test_django_unknown_page_is_404(django_site):
    response = django_site.get("/no/such/page")
    assert response.status == 404, response.describe()


def test_django_upload(django_site):
    content = os.urandom(2 * 1024 * 1024 + 5)
    content_type, body = multipart(
        {"note": "grüße"},
        {"file": ("blob.bin", content, "application/octet-stream")})
    response = django_site.request("POST", "/upload", body=body,
                                   headers={"Content-Type": content_type})
    assert response.status == 200, response.describe()
    answer = json.loads(response.body)
    assert answer == {
        "name": "blob.bin", "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(), "note": "grüße",
        "in_memory": False}
