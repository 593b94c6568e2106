"""The WSGI application every contender serves in the benchmarks."""

BODY = b"Hello, World!"
_LENGTH = str(len(BODY))


def hello(environ, start_response):
    """A fixed 13-byte text/plain page."""
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", _LENGTH)])
    return [BODY]


def make_hello(global_conf, **local_conf):
    """Paste Deploy app factory (``use = call:bench_apps:make_hello``)."""
    return hello
