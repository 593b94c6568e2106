"""One WSGI application for test_responses_on_a_socket.py, served with
``iiswsgi serve tests.reliability.response_apps:application`` (and
``...:make_application()``): answers that web servers get wrong when a
gateway gets them wrong.

``/head`` makes a body and sets its length whatever the method (as
Django does for HEAD); ``/status?code=N`` answers status N with a list
body; ``/cut`` fails after its first chunk; ``/short`` sets a
Content-Length it does not deliver; ``/ignores-body`` never reads its
body; ``/read-body`` reads it to the end and says how long it was and
what CONTENT_LENGTH said."""

import json
from urllib.parse import parse_qs

_REASONS = {204: "No Content", 304: "Not Modified", 200: "OK"}


def _cut():
    yield b"first chunk;"
    raise RuntimeError("failed after the first chunk, on purpose")


def application(environ, start_response):
    path = environ["PATH_INFO"]
    text = [("Content-Type", "text/plain")]
    if path == "/head":
        start_response("200 OK", text + [("Content-Length", "15")])
        return [b"the body of GET"]
    if path == "/status":
        code = int(parse_qs(environ["QUERY_STRING"])["code"][0])
        start_response("%d %s" % (code, _REASONS[code]), [("ETag", '"e"')])
        return [b"never sent"]
    if path == "/cut":
        start_response("200 OK", text)
        return _cut()
    if path == "/short":
        start_response("200 OK", text + [("Content-Length", "100")])
        return iter([b"only ", b"ten"])
    if path == "/ignores-body":
        start_response("200 OK", text)
        return [b"did not read"]
    if path == "/read-body":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"received": len(body), "CONTENT_LENGTH":
                            environ.get("CONTENT_LENGTH")}).encode()]
    start_response("200 OK", text)
    return [path.encode("utf-8")]


def make_application():
    """A factory, for ``module:factory()``."""
    return application
