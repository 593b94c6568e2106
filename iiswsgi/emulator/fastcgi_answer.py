"""The answer of a FastCGI process to one request, as IIS's FastCGI module
gives it: the CGI head read with :mod:`iiswsgi.protocol.cgi`, the body
buffered up to the handler's responseBufferLimit, what the process writes
on STDERR handled as its stderrMode says, failures as IIS's 500 pages
(503 when the queue is full)."""

import logging
from typing import Iterator, List, Mapping, Optional, Sequence, Tuple

from ..iis.fastcgi_process import ExchangeEvent, ProcessFailure
from ..iis.webconfig import Handler
from ..iis.paths import printable
from ..protocol import cgi
from .access import Answer
from .pages import Refusal, render
from .pool import Pool, QueueFull

__all__ = ["FastCgiAnswer", "HOP_BY_HOP", "MAX_HEADER_BYTES",
           "response_head"]

log = logging.getLogger("iiswsgi.emulator.fastcgi_answer")

# Headers about the connection, which is IIS's business, not the
# application's.
HOP_BY_HOP = frozenset((
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade"))
MAX_HEADER_BYTES = 65536
_MALFORMED = "The FastCGI process returned malformed headers"
_STDERR_FAILS = ("ReturnStdErrIn500", "ReturnGeneric500")


def response_head(parsed: cgi.ResponseHead) -> Tuple[str, List[Tuple[str,
                                                                     str]]]:
    """(status line, headers) IIS answers with for a CGI head: the
    application's headers without the hop-by-hop ones."""
    return parsed.status_line, [header for header in parsed.headers
                                if header[0].casefold() not in HOP_BY_HOP]


def _malformed(error: cgi.MalformedHead) -> ProcessFailure:
    return ProcessFailure(_MALFORMED, str(error), "0x8007000d")


class FastCgiAnswer(Answer):
    """The answer to the request ``params`` (FastCGI parameters) and
    ``environ`` (its body in wsgi.input) from a process of ``pool``, run
    by ``handler``."""

    def __init__(self, pool: Pool, handler: Handler,
                 params: Sequence[Tuple[bytes, bytes]],
                 environ: Mapping) -> None:
        self.pool = pool
        self.handler = handler
        self.settings = pool.settings
        self.params = params
        self.environ = environ
        self.process = None
        self.exchange = None
        self.released = False
        self.headers_sent = False

    # The exchange starts when the server iterates: by then respond() has
    # been given start_response.
    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._run()
        except ProcessFailure as failure:
            self._release()
            if self.headers_sent:
                # Too late for an error page: the connection is cut (the
                # server sees the exception), so the client cannot take
                # the answer for a whole one.
                log.error("%s %s: %s after the answer began: %s",
                          printable(self.environ.get("REQUEST_METHOD")),
                          printable(self.environ.get("REQUEST_URI")),
                          failure.message, printable(failure.detail))
                raise
            yield from self._refuse(Refusal(
                500, 0, failure.message, failure.detail, failure.code,
                self.handler.name, "FastCgiModule"))

    def _refuse(self, refusal):
        status_line, headers, body = render(
            refusal, self.environ.get("HTTP_HOST", "localhost"),
            self.environ.get("REQUEST_URI", ""))
        self.status = refusal.status
        self.headers_sent = True
        self._start_response(status_line, headers)
        self.sent += len(body)
        yield body

    def _start(self, attempt):
        body = self.environ.get("wsgi.input")
        length = int(self.environ.get("CONTENT_LENGTH") or 0)
        try:
            self.process = self.pool.acquire()
        except QueueFull as full:
            raise Refusal(503, 2, "The serverRuntime@appConcurrentRequest"
                          "Limit setting is being exceeded.", str(full),
                          "0x00000000", self.handler.name,
                          "FastCgiModule") from None
        reused = self.process.requests > 0
        try:
            self.exchange = self.process.exchange(self.params, body, length)
            return next(self.exchange)
        except ProcessFailure as failure:
            # A reused process that exited just before this request (after
            # its last one, as the gateway does when restarting or at
            # max_requests) never read it: send it, once, to another.
            if attempt == 0 and reused and failure.unseen and \
                    _rewind(body, length):
                log.info("FastCGI process %d had exited before the request;"
                         " sending it to another", self.process.pid)
                self._release()
                self.released = False
                self.exchange = None
                return None
            raise

    def _run(self):
        try:
            event = self._start(0)
            if event is None:
                event = self._start(1)
        except Refusal as refusal:
            yield from self._refuse(refusal)
            return
        head = bytearray()
        stderr = bytearray()
        parsed: Optional[cgi.ResponseHead] = None
        malformed: Optional[cgi.MalformedHead] = None
        body = []
        buffered = 0
        limit = self.handler.response_buffer_limit
        ended = False
        while True:
            kind, data = event
            if kind == ExchangeEvent.END:
                ended = True
                break
            if kind == ExchangeEvent.STDERR:
                stderr += data
                self._stderr(data)
            elif parsed is None and malformed is None:
                head += data
                try:
                    parsed = cgi.parse_head(bytes(head), final=False,
                                            limit=MAX_HEADER_BYTES)
                except cgi.MalformedHead as error:
                    ended_at = cgi.find_head_end(head)
                    if ended_at is None:        # too long a head
                        raise _malformed(error) from None
                    # A head that ended but breaks the rules: the answer
                    # is read on as a good one would be, then refused.
                    malformed = error
                    rest = bytes(head[ended_at[1]:])
                else:
                    rest = parsed.body if parsed is not None else None
                if rest is not None:
                    body.append(rest)
                    buffered += len(rest)
            elif not (stderr and self._stderr_fails()):
                body.append(data)
                buffered += len(data)
            # With STDERR output that fails the request, the rest of the
            # answer is read (and dropped) to its end.
            if (parsed is not None or malformed is not None) and \
                    buffered >= limit and not (
                        stderr and self._stderr_fails()):
                break
            event = next(self.exchange)
        if parsed is None and malformed is None:
            try:
                cgi.parse_head(bytes(head))
            except cgi.MalformedHead as error:
                raise _malformed(error) from None
        if stderr and self._stderr_fails():
            self._release()
            if self.settings.stderr_mode == "ReturnStdErrIn500":
                self.status = 500
                self.headers_sent = True
                self._start_response(
                    "500 Internal Server Error",
                    [("Content-Type", "text/plain; charset=utf-8"),
                     ("Content-Length", str(len(stderr)))])
                self.sent = len(stderr)
                yield bytes(stderr)
            else:
                yield from self._refuse(Refusal(
                    500, 0, "The FastCGI process wrote to STDERR",
                    "stderrMode ReturnGeneric500", "0x80004005",
                    self.handler.name, "FastCgiModule"))
            return
        if malformed is not None:
            raise _malformed(malformed)
        status, header_list = response_head(parsed)
        self.status = parsed.status
        self.headers_sent = True
        self._start_response(status, header_list)
        for chunk in body:
            if chunk:
                self.sent += len(chunk)
                yield chunk
        while not ended:
            kind, data = next(self.exchange)
            if kind == ExchangeEvent.END:
                break
            if kind == ExchangeEvent.STDERR:
                self._stderr(data)
                continue
            self.sent += len(data)
            yield data
        self._release()

    def _stderr_fails(self):
        return self.settings.stderr_mode in _STDERR_FAILS

    def _stderr(self, data):
        text = data.decode("utf-8", "replace").rstrip()
        log.warning("FastCGI process %d wrote to STDERR: %s",
                    self.process.pid, printable(text))
        if self.settings.stderr_mode == "TerminateProcess":
            self.process.kill()
            raise ProcessFailure("The FastCGI process wrote to STDERR and"
                                 " was terminated (stderrMode"
                                 " TerminateProcess)", text, "0x80004005")

    def _release(self):
        if self.process is not None and not self.released:
            self.released = True
            self.pool.release(self.process, self.exchange is not None
                              and self.exchange.reusable)

    def close(self) -> None:
        try:
            if self.exchange is not None and not self.exchange.done:
                # The client went away mid-answer.
                self.exchange.abort()
            self._release()
        finally:
            self.log()


def _rewind(body, length):
    if not length:
        return True
    try:
        body.seek(0)
        return True
    except (AttributeError, OSError, ValueError):
        return False
