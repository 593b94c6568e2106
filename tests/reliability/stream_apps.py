"""Streaming applications that count what they produce, for
test_timeouts_and_aborts.py: each writes ``$FAULT_MARKERS/<name>.count``
(the number of chunks made) when it is closed, so a test sees how far the
application got, not only what reached the web server.

``/hold?seconds=N`` (test_signals.py) writes ``$FAULT_MARKERS/hold.stage``
once it is running, then takes N seconds to answer.  ``/exc-info-before``
and ``/exc-info-after`` (test_faults.py) call start_response with exc_info
before and after the headers went out."""

import os
import sys
import time
from urllib.parse import parse_qs


def _record(name, produced):
    folder = os.environ.get("FAULT_MARKERS")
    if folder:
        with open(os.path.join(folder, name + ".count"), "a") as f:
            f.write("%d\n" % produced)


class Counted:
    """``count`` chunks of ``size`` bytes, ``delay`` seconds apart."""

    def __init__(self, name, count, size, delay):
        self.name = name
        self.count = count
        self.size = size
        self.delay = delay
        self.produced = 0

    def __iter__(self):
        for n in range(self.count):
            if self.delay:
                time.sleep(self.delay)
            self.produced += 1
            yield (b"%08d" % n) + b"c" * max(0, self.size - 8)

    def close(self):
        _record(self.name, self.produced)


def _query(environ, name, default):
    values = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    return type(default)(values[0]) if values else default


def _stage(name):
    folder = os.environ.get("FAULT_MARKERS")
    if folder:
        with open(os.path.join(folder, name + ".stage"), "a") as f:
            f.write("reached\n")


def _late_error(start_response):
    yield b"part one;"
    try:
        raise KeyError("the original error")
    except KeyError:
        # The head went out: this raises the KeyError again (PEP 3333).
        start_response("500 Internal Server Error",
                       [("Content-Type", "text/plain")], sys.exc_info())
    yield b"never"


def application(environ, start_response):
    if environ["PATH_INFO"] == "/exc-info-before":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("changed its mind")
        except ValueError:
            start_response("503 Service Unavailable",
                           [("Content-Type", "text/plain"),
                            ("Retry-After", "5")], sys.exc_info())
        return [b"try again later"]
    if environ["PATH_INFO"] == "/exc-info-after":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _late_error(start_response)
    if environ["PATH_INFO"] == "/hold":
        _stage("hold")
        time.sleep(_query(environ, "seconds", 30.0))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"held"]
    count = _query(environ, "count", 200)
    size = _query(environ, "size", 64)
    delay = _query(environ, "delay", 0.01)
    path = environ["PATH_INFO"]
    if path == "/read-body-then-stream":
        environ["wsgi.input"].read()
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    if path == "/write":
        # The legacy write() callable: the chunks go out as it is called.
        stream = Counted("write", count, size, delay)
        try:
            for chunk in stream:
                write(chunk)
        finally:
            stream.close()
        return []
    return Counted(path.strip("/") or "stream", count, size, delay)


def application_factory(global_conf, **local_conf):
    """Paste app factory for :func:`application`."""
    return application
