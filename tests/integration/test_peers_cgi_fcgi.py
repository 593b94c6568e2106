"""End to end with libfcgi's own client: ``cgi-fcgi -bind -connect SOCK``
against ``iiswsgi serve INI --socket SOCK``.

cgi-fcgi sends its whole environment as the FastCGI parameters and its
standard input as the request body, and prints the CGI response (headers,
an empty line, the body) on its standard output.
"""

import hashlib
import json
import os
import subprocess

import pytest

from tests.integration.peers_support import parse_cgi, require_binary, \
    socket_path, start_gateway, write_ini


@pytest.fixture(scope="module")
def cgi_fcgi():
    return require_binary("cgi-fcgi", "/usr/bin/cgi-fcgi")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, cgi_fcgi):
    directory = tmp_path_factory.mktemp("cgi-fcgi")
    ini = write_ini(directory / "app.ini", "call:peer_apps:make_router",
                    {"log_file": directory / "gateway.log"})
    with socket_path(directory) as sock:
        proc = start_gateway(directory, ini, sock)
        proc.sock = sock
        try:
            yield proc
        finally:
            proc.stop()


def run(cgi_fcgi, gateway, path, method="GET", query="", body=b"",
        **extra):
    """One request through cgi-fcgi; ``(status, headers, body)``."""
    env = {
        b"GATEWAY_INTERFACE": b"CGI/1.1",
        b"REQUEST_METHOD": method.encode(),
        b"SCRIPT_NAME": b"",
        b"PATH_INFO": path if isinstance(path, bytes) else path.encode(),
        b"QUERY_STRING": query.encode(),
        b"SERVER_NAME": b"localhost",
        b"SERVER_PORT": b"8080",
        b"SERVER_PROTOCOL": b"HTTP/1.1",
        b"REMOTE_ADDR": b"127.0.0.1",
    }
    if body:
        env[b"CONTENT_LENGTH"] = str(len(body)).encode()
        env[b"CONTENT_TYPE"] = b"application/octet-stream"
    for name, value in extra.items():
        env[name.encode()] = value.encode()
    done = subprocess.run([cgi_fcgi, "-bind", "-connect", gateway.sock],
                          input=body, env=env, capture_output=True,
                          timeout=30)
    assert done.returncode == 0, (done.returncode, done.stderr,
                                  gateway.describe())
    return parse_cgi(done.stdout)


def test_get(cgi_fcgi, gateway):
    status, headers, body = run(cgi_fcgi, gateway, "/hello/world",
                                query="a=1&b=%20", HTTP_X_PEER="libfcgi")
    assert status == 200
    assert ("Content-Type", "application/json") in headers
    assert dict(headers)["Content-Length"] == str(len(body))
    environ = json.loads(body)
    assert environ["PATH_INFO"] == "/hello/world"
    assert environ["SCRIPT_NAME"] == ""
    assert environ["QUERY_STRING"] == "a=1&b=%20"
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["SERVER_PORT"] == "8080"
    assert environ["HTTP_X_PEER"] == "libfcgi"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.multithread"] is True
    assert environ["pid"] == gateway.pid


def test_get_non_ascii_path(cgi_fcgi, gateway):
    status, _, body = run(cgi_fcgi, gateway, "/café".encode("utf-8"))
    assert status == 200
    assert json.loads(body)["PATH_INFO"] == (
        "/café".encode("utf-8").decode("latin-1"))


def test_post_with_body(cgi_fcgi, gateway):
    # Several FastCGI records' worth (cgi-fcgi sends at most 8 KiB each).
    payload = os.urandom(300000)
    status, headers, body = run(cgi_fcgi, gateway, "/echo", method="POST",
                                body=payload)
    assert status == 200
    answer = json.loads(body)
    assert answer["size"] == len(payload)
    assert answer["sha256"] == hashlib.sha256(payload).hexdigest()
    assert answer["pid"] == gateway.pid


def test_big_response_and_error(cgi_fcgi, gateway):
    status, _, body = run(cgi_fcgi, gateway, "/big", query="70000")
    assert status == 200
    assert body == bytes(range(256)) * (70000 // 256) + b"x" * (70000 % 256)
    status, _, body = run(cgi_fcgi, gateway, "/boom")
    assert status == 500
    assert b"500 Internal Server Error" in body
    status, _, body = run(cgi_fcgi, gateway, "/after")
    assert status == 200
    assert json.loads(body)["pid"] == gateway.pid
