"""Shared helpers for the end-to-end tests against real peers: nginx,
libfcgi's cgi-fcgi, spawn-fcgi and PasteScript's paster (the process
helpers come from tests/support/servers.py, with the other web servers).

Everything started here runs in its own session (process group), writes
its output to files in the test's temporary directory, and is stopped by
:meth:`Proc.stop`, which the fixtures always call.
"""

import contextlib
import http.client
import json
import os
import socket
import time
import uuid

from iiswsgi.protocol import cgi
# The process helpers are shared with the web-server matrix; these tests
# import them from here.
from tests.support.servers import (  # noqa: F401
    APPS, BIN_DIR, HERE, IISWSGI, PASTER, PYTHON, ROOT, START_TIMEOUT,
    STOP_TIMEOUT, TESTS, Proc, free_port, require_binary, require_script,
    socket_path, start_gateway, subprocess_env, tcp_ready, unix_socket_ready,
    wait_until, write_ini)
from tests.support import servers
from tests.support.servers import nginx_temp_paths as _nginx_temp_paths

# -- nginx -------------------------------------------------------------------

#: FastCGI parameters for nginx, written for these tests: the CGI set, with
#: the whole path as PATH_INFO and an empty SCRIPT_NAME.
NGINX_FASTCGI_PARAMS = """\
fastcgi_param  QUERY_STRING       $query_string;
fastcgi_param  REQUEST_METHOD     $request_method;
fastcgi_param  CONTENT_TYPE       $content_type;
fastcgi_param  CONTENT_LENGTH     $content_length;
fastcgi_param  SCRIPT_NAME        "";
fastcgi_param  PATH_INFO          $fastcgi_script_name;
fastcgi_param  REQUEST_URI        $request_uri;
fastcgi_param  DOCUMENT_URI       $document_uri;
fastcgi_param  SERVER_PROTOCOL    $server_protocol;
fastcgi_param  REQUEST_SCHEME     $scheme;
fastcgi_param  HTTPS              $https if_not_empty;
fastcgi_param  GATEWAY_INTERFACE  CGI/1.1;
fastcgi_param  SERVER_SOFTWARE    nginx/$nginx_version;
fastcgi_param  REMOTE_ADDR        $remote_addr;
fastcgi_param  REMOTE_PORT        $remote_port;
fastcgi_param  SERVER_ADDR        $server_addr;
fastcgi_param  SERVER_PORT        $server_port;
fastcgi_param  SERVER_NAME        $server_name;
"""

NGINX_CONF = """\
# Written by the iiswsgi end-to-end tests.
daemon off;
{user}worker_processes 1;
pid {dir}/nginx.pid;
lock_file {dir}/nginx.lock;
error_log {dir}/error.log info;

events {{
    worker_connections 256;
}}

http {{
    default_type application/octet-stream;
    access_log {dir}/access.log;
{temp_paths}
    keepalive_timeout 30s;
    client_max_body_size 64m;
    gzip off;

    upstream iiswsgi {{
        server unix:{sock};
        keepalive 4;
    }}

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;

        location / {{
            include {dir}/fastcgi_params;
            fastcgi_pass iiswsgi;
            fastcgi_keep_conn on;
            fastcgi_read_timeout {read_timeout}s;
        }}

        location /stream {{
            include {dir}/fastcgi_params;
            fastcgi_pass iiswsgi;
            fastcgi_keep_conn on;
            fastcgi_buffering off;
            fastcgi_read_timeout {read_timeout}s;
        }}
    }}
}}
"""

class Nginx(servers.Nginx):
    """nginx in front of one gateway socket, as these tests configure it
    (NGINX_CONF, their own FastCGI parameters), its prefix, pid file,
    temp folders and logs all in ``directory``; started and stopped by the
    harness of tests/support/servers.py."""

    def __init__(self, binary, directory, upstream_socket, read_timeout=30):
        super().__init__(servers.RunDir("nginx", path=directory), None)
        self.known_paths = (binary,)
        self.read_timeout = read_timeout
        self.directory = self.run.path
        self.upstream_socket = upstream_socket

    def config(self, port):
        self.run.write("fastcgi_params", NGINX_FASTCGI_PARAMS)
        return NGINX_CONF.format(
            user=servers.nginx_user_line(), dir=self.directory,
            sock=self.upstream_socket, port=port,
            read_timeout=self.read_timeout,
            temp_paths=_nginx_temp_paths(self.known_paths[0],
                                         self.directory))


class Site:
    """nginx in front of one gateway."""

    def __init__(self, directory, gateway, nginx, sock):
        self.directory = directory
        self.gateway = gateway
        self.nginx = nginx
        self.sock = sock

    @property
    def port(self):
        return self.nginx.port

    def connection(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None,
                timeout=30):
        return http_request(self.port, method, path, body, headers, conn,
                            timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def get_json(self, path, **kw):
        response = self.get(path, **kw)
        assert response.status == 200, response.describe()
        return json.loads(response.body)

    def describe(self):
        return "%s\n%s" % (self.gateway.describe(), self.nginx.describe())


@contextlib.contextmanager
def nginx_site(nginx_binary, directory, app, app_options=None,
               server_options=None, read_timeout=30):
    """``iiswsgi serve INI --socket SOCK`` for the application ``app`` (a
    Paste Deploy ``use`` value), behind nginx; both stopped on exit.
    ``read_timeout`` is nginx's fastcgi_read_timeout, which bounds how
    long a request the gateway never answers hangs."""
    directory = str(directory)
    server = {"threads": 8, "log_file": os.path.join(directory, "gateway.log")}
    server.update(server_options or {})
    ini = write_ini(os.path.join(directory, "app.ini"), app, server,
                    app_options)
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(socket_path(directory))
        gateway = start_gateway(directory, ini, sock)
        stack.callback(gateway.stop)
        nginx = Nginx(nginx_binary, os.path.join(directory, "nginx"), sock,
                      read_timeout)
        stack.callback(nginx.stop)
        nginx.start()
        yield Site(directory, gateway, nginx, sock)


# -- HTTP --------------------------------------------------------------------

class HttpResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self):
        return json.loads(self.body)

    def describe(self):
        return "HTTP %s %r %r" % (self.status, self.headers, self.body[:2000])


def http_request(port, method, path, body=None, headers=None, conn=None,
                 timeout=30):
    """One request with http.client (on ``conn`` when given, to keep the
    connection alive)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return HttpResponse(response.status, response.getheaders(), data)
    finally:
        if own:
            conn.close()


def timed_get(port, path, markers, timeout=15):
    """GET ``path`` on a raw socket, reading as bytes arrive.  Returns
    ``(status line, headers, body, arrivals)`` where ``arrivals`` maps
    each of ``markers`` to the seconds after the request was sent at
    which it was first seen."""
    arrivals = {}
    raw = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\n\r\n" % path.encode("ascii"))
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                break
            raw += data
            now = time.monotonic() - start
            for marker in markers:
                if marker not in arrivals and marker in raw:
                    arrivals[marker] = now
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(p.strip() for p in line.split(":", 1))
               for line in lines[1:] if ":" in line]
    if any(k.lower() == "transfer-encoding" and "chunked" in v.lower()
           for k, v in headers):
        body = dechunk(body)
    return lines[0], headers, body, arrivals


def dechunk(data):
    """The body of an HTTP/1.1 chunked transfer coding."""
    out = b""
    pos = 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        pos = end + 2
        if size == 0:
            return out
        out += data[pos:pos + size]
        pos += size + 2


def multipart(fields=None, files=None):
    """``(content type, body)`` of a multipart/form-data form.  ``files``
    maps a field name to ``(file name, bytes, content type)``."""
    boundary = "iiswsgi-" + uuid.uuid4().hex
    parts = []
    for name, value in (fields or {}).items():
        parts.append(
            b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s"
            b"\r\n" % (boundary.encode(), name.encode(), value.encode("utf-8")))
    for name, (filename, content, ctype) in (files or {}).items():
        parts.append(
            b"--%s\r\nContent-Disposition: form-data; name=\"%s\";"
            b" filename=\"%s\"\r\nContent-Type: %s\r\n\r\n%s\r\n" % (
                boundary.encode(), name.encode(), filename.encode("utf-8"),
                ctype.encode(), content))
    parts.append(b"--%s--\r\n" % boundary.encode())
    return "multipart/form-data; boundary=" + boundary, b"".join(parts)


# -- CGI output (cgi-fcgi) ------------------------------------------------------

def parse_cgi(output):
    """``(status, headers, body)`` of a CGI response, read by the gateway's
    own reader (no Status header: 200, or 302 with a Location)."""
    head = cgi.parse_head(output)
    return head.status, head.headers, head.body


# -- sockets to the gateway ---------------------------------------------------

def fcgi_params(path="/", query="", method="GET", body=b"",
                content_type=None, **extra):
    """What nginx would send for ``path`` (text), with SCRIPT_NAME empty."""
    from urllib.parse import quote
    params = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "iiswsgi-tests",
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": query,
        "REQUEST_URI": quote(path.encode("utf-8")) + (
            "?" + query if query else ""),
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost",
    }
    if content_type:
        params["CONTENT_TYPE"] = content_type
    params.update(extra)
    # tests.support.fcgi encodes str as UTF-8: hand it latin-1 bytes.
    return {name: value.encode("latin-1") for name, value in params.items()}


def unix_connect(path, timeout=30):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    return sock
