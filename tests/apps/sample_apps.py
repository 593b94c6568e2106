"""Small WSGI applications the gateway tests serve."""

import hashlib
import json
import os
import sys
import time


def _json(start_response, data, status="200 OK"):
    body = json.dumps(data, sort_keys=True).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def environ_app(environ, start_response):
    """Answers with the environ's text values as JSON."""
    data = {key: value for key, value in environ.items()
            if isinstance(value, (str, bool, int, tuple))}
    data["pid"] = os.getpid()
    return _json(start_response, data)


def echo_app(environ, start_response):
    """Reads the body in 64 KiB pieces; answers with its size and sha256."""
    stream = environ["wsgi.input"]
    digest = hashlib.sha256()
    size = 0
    while True:
        block = stream.read(65536)
        if not block:
            break
        size += len(block)
        digest.update(block)
    return _json(start_response, {"size": size, "sha256": digest.hexdigest(),
                                  "pid": os.getpid()})


def router(environ, start_response):
    """Dispatches on PATH_INFO to behaviours the tests need."""
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("boom on purpose")
    if path == "/crash":
        os._exit(3)
    if path == "/trickle":
        pause = float(environ.get("QUERY_STRING") or 1)
        start_response("200 OK", [("Content-Type", "text/plain")])

        def trickle():
            yield b"first\n"
            time.sleep(pause)
            yield b"second\n"
        return trickle()
    if path == "/print":
        print("printed by the application")
        sys.stderr.write("written to stderr by the application\n")
        environ["wsgi.errors"].write("written to wsgi.errors\n")
        return _json(start_response, {"printed": True})
    if path == "/echo":
        return echo_app(environ, start_response)
    if path.startswith("/stream"):
        count = int(environ.get("QUERY_STRING") or 3)
        start_response("200 OK", [("Content-Type", "text/plain")])

        def chunks():
            for n in range(count):
                yield b"chunk %d\n" % n
                time.sleep(0.05)
        return chunks()
    if path == "/bigchunks":
        # 64 KiB chunks from an iterator: each goes out as it comes.
        count = int(environ.get("QUERY_STRING") or 3)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return iter([bytes([n % 256]) * 65536 for n in range(count)])
    if path == "/big":
        size = int(environ.get("QUERY_STRING") or 200000)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [bytes(range(256)) * (size // 256) + b"x" * (size % 256)]
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        write(b"")
        return [b"and returned"]
    if path == "/badheader":
        start_response("200 OK", [("X-Bad", "a\r\nSet-Cookie: evil=1")])
        return [b"never"]
    if path == "/statusheader":
        # A Status header of the application's own, beside the status.
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Status", "302 Found"),
                                  ("Location", "/elsewhere")])
        return [b"status header"]
    if path == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or 1))
        return _json(start_response, {"slow": True, "pid": os.getpid()})
    if path == "/file":
        import io
        wrapper = environ["wsgi.file_wrapper"](io.BytesIO(b"f" * 100000), 8192)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return wrapper
    return environ_app(environ, start_response)


application = router


def make_router(global_conf, **local_conf):
    """Paste app factory for :func:`router`."""
    return router


def other(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"other"]


def settings_app(environ, start_response):
    """Answers with the process environment the settings produced."""
    data = {key: value for key, value in os.environ.items()
            if key.startswith("SETTING_") or key in (
                "DJANGO_SETTINGS_MODULE", "WSGI_HANDLER")}
    data["SCRIPT_NAME"] = environ["SCRIPT_NAME"]
    data["PATH_INFO"] = environ["PATH_INFO"]
    data["cwd"] = os.getcwd()
    data["sys.path"] = sys.path
    return _json(start_response, data)
