"""WSGI applications that fail on purpose, for tests/reliability.

Every response iterable here has a close() that writes a marker file
``$FAULT_MARKERS/<name>.closed``, so the tests see that close() ran; the
applications that read a body first write ``$FAULT_MARKERS/<name>.stage``,
so the tests know the application is reading before they go on.
"""

import json
import os
import time
from urllib.parse import parse_qs


def _mark(name):
    folder = os.environ.get("FAULT_MARKERS")
    if folder:
        with open(os.path.join(folder, name + ".closed"), "a") as f:
            f.write("closed\n")


def _stage(name):
    folder = os.environ.get("FAULT_MARKERS")
    if folder:
        with open(os.path.join(folder, name + ".stage"), "a") as f:
            f.write("reached\n")


class Marked:
    """An iterable over ``chunks`` (callables or bytes) with a marking
    close(); ``close_raises`` makes close() fail after marking."""

    def __init__(self, name, chunks, close_raises=False):
        self.name = name
        self.chunks = chunks
        self.close_raises = close_raises

    def __iter__(self):
        for chunk in self.chunks:
            yield chunk() if callable(chunk) else chunk

    def close(self):
        _mark(self.name)
        if self.close_raises:
            raise RuntimeError("close failed on purpose")


def _fail(message):
    def chunk():
        raise RuntimeError(message)
    return chunk


def application(environ, start_response):
    path = environ["PATH_INFO"]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    text = "text/plain"
    if path == "/raise-in-start-response":
        # A header start_response refuses: the exception goes through.
        start_response("200 OK", [("Bad Name", "x")])
        return Marked("start", [b"never"])
    if path == "/raise-before-first-chunk":
        start_response("200 OK", [("Content-Type", text)])
        return Marked("before", [_fail("before the first chunk"), b"never"])
    if path == "/raise-after-first-chunk":
        start_response("200 OK", [("Content-Type", text),
                                  ("Content-Length", "100")])
        return Marked("after", [b"first chunk;", _fail("after a chunk")])
    if path == "/raise-in-close":
        start_response("200 OK", [("Content-Type", text)])
        return Marked("close", [b"all of the body"], close_raises=True)
    if path == "/raise-in-close-before-body":
        start_response("200 OK", [("Content-Type", text)])
        return Marked("close-empty", [], close_raises=True)
    if path == "/stream":
        count = int(query.get("count", ["1000"])[0])
        size = int(query.get("size", ["10"])[0])
        delay = float(query.get("delay", ["0.02"])[0])
        start_response("200 OK", [("Content-Type", text)])

        def chunk(n):
            def make():
                if delay:
                    time.sleep(delay)
                return (b"%08d" % n) + b"s" * max(0, size - 8)
            return make
        return Marked("stream", [chunk(n) for n in range(count)])
    if path == "/header":
        # The response header the query asks for (UTF-8 percent-encoding).
        name = query.get("name", ["X-Test"])[0]
        value = query.get("value", [""])[0]
        start_response("200 OK", [("Content-Type", text), (name, value)])
        return Marked("header", [b"header sent"])
    if path == "/read-then-slow":
        environ["wsgi.input"].read()
        time.sleep(float(query.get("delay", ["1"])[0]))
        start_response("200 OK", [("Content-Type", text)])
        return Marked("slow", [b"slow done"])
    if path == "/store":
        # Reads the whole body, then "stores" it: records its size in
        # $FAULT_MARKERS/store.size only when the read ended cleanly.
        _stage("store-reading")
        data = environ["wsgi.input"].read()
        folder = os.environ.get("FAULT_MARKERS")
        if folder:
            with open(os.path.join(folder, "store.size"), "a") as f:
                f.write("%d\n" % len(data))
        start_response("200 OK", [("Content-Type", text)])
        return Marked("store", [b"stored %d bytes" % len(data)])
    if path == "/echo":
        _stage("echo-reading")
        data = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", text),
                                  ("Content-Length", str(len(data)))])
        return Marked("echo", [data])
    # Anything else: the text variables of the environ as JSON.
    body = json.dumps({k: v for k, v in environ.items()
                       if isinstance(v, str)}).encode("ascii")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return Marked("environ", [body])
