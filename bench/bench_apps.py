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


def memory(environ, start_response):
    """The memory benchmark's application: ``/upload`` reads the body in
    64 KiB blocks and answers its size; ``/stream?BYTES`` streams that many
    bytes in 64 KiB chunks."""
    if environ["PATH_INFO"] == "/upload":
        read = environ["wsgi.input"].read
        size = 0
        while True:
            block = read(65536)
            if not block:
                break
            size += len(block)
        body = str(size).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    total = int(environ.get("QUERY_STRING") or 0)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(total))])
    chunk = b"s" * 65536

    def chunks():
        left = total
        while left > 0:
            yield chunk[:min(left, 65536)]
            left -= 65536
    return chunks()
