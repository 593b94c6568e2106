"""The answers the emulator gives, as the HTTP server takes them (a WSGI
response iterable), and the access-log line each one writes when the
server closes it."""

import logging
import time
from typing import Callable, Iterator, Mapping

from ..iis.paths import printable

__all__ = ["Answer"]

access_log = logging.getLogger("iiswsgi.emulator.access")


class Answer:
    """Base of every answer: ``status`` and ``sent`` (body bytes) are what
    the access log shows; subclasses iterate the body, calling
    ``self._start_response`` first."""

    status = 500
    sent = 0

    def respond(self, start_response: Callable, environ: Mapping,
                raw_uri: str, started: float) -> "Answer":
        """Itself, ready to be iterated by the server: ``started`` is the
        ``time.monotonic()`` of the request's arrival."""
        self._start_response = start_response
        self._log_line = (environ.get("REMOTE_ADDR", "-"),
                          environ.get("REQUEST_METHOD", "-"), raw_uri,
                          started)
        return self

    def __iter__(self) -> Iterator[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        self.log()

    def log(self) -> None:
        """Write the access-log line: client, request line, status, body
        bytes sent and seconds taken."""
        address, method, raw_uri, started = self._log_line
        # Everything from the request is escaped: a raw CR/LF in it must
        # not end the line and forge another.
        access_log.info('%s "%s %s" %d %d %.3fs', printable(address),
                        printable(method), printable(raw_uri),
                        self.status, self.sent,
                        time.monotonic() - started)
