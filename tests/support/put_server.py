"""A small blob store on loopback for the publishing tests: http.server in a
thread, accepting PUT and GET of ``/<container>/<name>``.

It checks a token (a ``sig`` query parameter, or ``Authorization: Bearer
<token>``), can fail the next requests on purpose (``fail``: a list of
actions, each ``503``, ``drop`` (close without answering) or ``corrupt``
(store the body with one byte changed)), and, like some real services, echoes
the request line in its error bodies, so a test can see that the client
does not pass it on (``echo_headers``: the request's headers too).
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["PutServer"]


class _Handler(BaseHTTPRequestHandler):
    server_version = "PutServer/1"

    def log_message(self, format, *args):
        self.server.owner.log.append(format % args)

    def _authorized(self):
        owner = self.server.owner
        query = parse_qs(urlsplit(self.path).query)
        header = self.headers.get("Authorization", "")
        return (query.get("sig") == [owner.token]
                or header == "Bearer " + owner.token)

    def _answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status):
        # Echo the request line (token included), as chatty services do;
        # with ``echo_headers``, the request's headers too.
        echoed = self.requestline
        if self.server.owner.echo_headers:
            echoed += " " + " ".join("%s: %s" % item
                                     for item in self.headers.items())
        self._answer(status, ("<Error>%s refused: %s</Error>" % (
            status, echoed)).encode())

    def _key(self):
        return urlsplit(self.path).path

    def do_PUT(self):
        owner = self.server.owner
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        owner.requests.append(("PUT", self.path, dict(self.headers)))
        action = owner.fail.pop(0) if owner.fail else None
        if action == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if action == "503":
            return self._refuse(503)
        if not self._authorized():
            return self._refuse(403)
        if action == "corrupt":
            body = body[:-1] + bytes([body[-1] ^ 0xFF]) if body else b"x"
        owner.blobs[self._key()] = body
        self._answer(201)

    def do_GET(self):
        owner = self.server.owner
        owner.requests.append(("GET", self.path, dict(self.headers)))
        if not self._authorized():
            return self._refuse(403)
        body = owner.blobs.get(self._key())
        if body is None:
            return self._refuse(404)
        self._answer(200, body, [("Content-Type",
                                  "application/octet-stream")])


class PutServer:
    """``with PutServer(token) as server: server.url``"""

    def __init__(self, token):
        self.token = token
        self.blobs = {}
        self.requests = []
        self.log = []
        self.fail = []
        self.echo_headers = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
