"""The WSGI application of the web-server matrix
(tests/integration/test_servers_matrix.py): the same answers whichever
server runs it, so a response through a web server and the gateway can be
compared with the same request answered by waitress.

Everything that differs between two runs of one request (the process id)
is in the ``X-Pid`` header, never in a body.  Paths are routed on their
first segment of PATH_INFO, so the application works the same under any
mount point.
"""

import hashlib
import json
import os
import time
from urllib.parse import parse_qsl

#: One 64 KiB block of the big response: every byte value, repeated.
BLOCK = bytes(range(256)) * 256


def big_body(size):
    """The first ``size`` bytes of ``/big?SIZE``."""
    whole, rest = divmod(size, len(BLOCK))
    return BLOCK * whole + BLOCK[:rest]


def _json(start_response, value, status="200 OK", extra=()):
    body = json.dumps(value, sort_keys=True).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body))),
                            ("X-Pid", str(os.getpid()))] + list(extra))
    return [body]


def _text(start_response, status, text, extra=()):
    body = text.encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))),
                            ("X-Pid", str(os.getpid()))] + list(extra))
    return [body]


def _read_body(environ):
    # The gateway and waitress both say wsgi.input ends at the body's end.
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        return stream.read()
    return stream.read(max(0, int(environ.get("CONTENT_LENGTH") or 0)))


def _int(query, default):
    try:
        return int(query)
    except ValueError:
        return default


def echo(environ, start_response):
    """What the application was asked, without anything server-specific."""
    body = _read_body(environ)
    return _json(start_response, {
        "method": environ["REQUEST_METHOD"],
        "script_name": environ.get("SCRIPT_NAME", ""),
        "path_info": environ.get("PATH_INFO", ""),
        "query_string": environ.get("QUERY_STRING", ""),
        "body_size": len(body),
    })


def status(environ, start_response):
    code = environ["PATH_INFO"].split("/")[2:3] or ["200"]
    code = code[0]
    if code == "204":
        start_response("204 No Content", [("X-Pid", str(os.getpid())),
                                          ("X-Kind", "no content")])
        return [b""]
    if code == "304":
        start_response("304 Not Modified", [("ETag", '"v1"'),
                                            ("X-Pid", str(os.getpid()))])
        return [b""]
    if code == "404":
        return _text(start_response, "404 Not Found", "no such page\n")
    if code == "500":
        return _text(start_response, "500 Internal Server Error",
                     "the application says it failed\n")
    return _text(start_response, "200 OK", "status %s\n" % code)


def boom(environ, start_response):
    raise RuntimeError("matrix_app fails on purpose")


def form(environ, start_response):
    fields = parse_qsl(_read_body(environ).decode("utf-8"),
                       keep_blank_values=True)
    return _json(start_response, {"fields": fields,
                                  "content_type": environ.get("CONTENT_TYPE")})


def upload(environ, start_response):
    body = _read_body(environ)
    return _json(start_response, {"size": len(body),
                                  "sha256": hashlib.sha256(body).hexdigest()})


def unread(environ, start_response):
    return _text(start_response, "200 OK", "the body was not read\n")


def request_headers(environ, start_response):
    fill = sorted((k, v) for k, v in environ.items()
                  if k.startswith("HTTP_X_FILL_"))
    joined = "".join(k + v for k, v in fill).encode("latin-1")
    return _json(start_response, {
        "count": len(fill), "size": sum(len(v) for _, v in fill),
        "sha256": hashlib.sha256(joined).hexdigest()})


def many_headers(environ, start_response):
    extra = [("X-Header-%02d" % n, "value %d" % n) for n in range(36)]
    extra += [("Set-Cookie", "first=1; Path=/"),
              ("Set-Cookie", "second=2; Path=/; HttpOnly")]
    # With Content-Type, Content-Length and X-Pid: 41 headers.
    return _text(start_response, "200 OK", "many headers\n", extra)


def stream(environ, start_response):
    """``/stream?N``: N lines, 0.3 s apart, with no Content-Length, and
    telling nginx not to buffer them (the README's nginx recipe)."""
    count = _int(environ.get("QUERY_STRING", ""), 5)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("X-Accel-Buffering", "no"),
                              ("X-Pid", str(os.getpid()))])

    def lines():
        for n in range(count):
            yield b"line %d\n" % n
            if n + 1 < count:
                time.sleep(0.3)
    return lines()


def big(environ, start_response):
    """``/big?SIZE``: SIZE bytes of big_body(), with a Content-Length, in
    64 KiB pieces."""
    size = _int(environ.get("QUERY_STRING", ""), 1 << 20)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size)),
                              ("X-Pid", str(os.getpid()))])

    def pieces():
        left = size
        while left > 0:
            piece = BLOCK[:min(left, len(BLOCK))]
            left -= len(piece)
            yield piece
    return pieces()


def slow(environ, start_response):
    time.sleep(float(environ.get("QUERY_STRING") or 0.5))
    return _text(start_response, "200 OK", "slept\n")


def host(environ, start_response):
    """The Host header as the application sees it."""
    return _json(start_response, {"host": environ.get("HTTP_HOST")})


def fds(environ, start_response):
    """The number of file descriptors this process has open."""
    return _json(start_response, {"pid": os.getpid(),
                                  "fds": len(os.listdir("/proc/self/fd"))})


ROUTES = {"echo": echo, "status": status, "boom": boom, "form": form,
          "upload": upload, "unread": unread, "headers": request_headers,
          "many-headers": many_headers, "stream": stream, "big": big,
          "slow": slow, "host": host, "fds": fds}


def application(environ, start_response):
    first = environ.get("PATH_INFO", "").split("/")[1:2]
    route = ROUTES.get(first[0] if first else "")
    if route is None:
        return _text(start_response, "404 Not Found",
                     "unknown route: SCRIPT_NAME %r, PATH_INFO %r\n" % (
                         environ.get("SCRIPT_NAME"), environ.get("PATH_INFO")))
    return route(environ, start_response)


def make_app(global_conf, **local_conf):
    """``use = call:matrix_app:make_app``."""
    return application
