"""Serve the requests of one FastCGI connection with a WSGI application."""

import functools
import io
import logging
import re
import sys
import time
import traceback
from http import HTTPStatus
from typing import (IO, TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator,
                    Optional, Union)

from .. import logs
from ..protocol import fastcgi
from ..protocol.cgi import TOKEN
from .body import ClientDisconnected, Input, RequestTooLarge
from .environ import build_environ
from .transport import (ConnectionLost, PipeChannel, ReadTimeout,
                        SocketChannel)

if TYPE_CHECKING:
    from .server import IISWSGIServer

#: What a responder reads requests from and writes answers to.
Channel = Union[PipeChannel, SocketChannel]

__all__ = ["FileWrapper", "Responder", "ResponderSettings", "error_page"]

log = logging.getLogger(__name__)

_TOKEN = re.compile(TOKEN + r"\Z")
_STATUS = re.compile(r"[1-9][0-9][0-9] [^\r\n\0]*\Z")
_CONTROL = re.compile(r"[\r\n\0]")

_SEQUENCES = (list, tuple)


# What an application answers with is mostly the same few statuses and
# header names: each distinct one is checked once (at most this many are
# remembered, so an application making up new ones costs only time).
_CHECKED = 256


@functools.lru_cache(maxsize=_CHECKED)
def _status_code(status):
    """The code of a status line (``"200 OK"``: 200), once it is checked."""
    if not _STATUS.match(status):
        raise ValueError("bad status %r: it must be a str such as"
                         " '200 OK'" % (status,))
    return int(status[:3])


# What _header_kind says of a response header's name.
_PLAIN, _LENGTH, _STATUS_HEADER = range(3)


@functools.lru_cache(maxsize=_CHECKED)
def _header_kind(name):
    """_LENGTH for Content-Length, _STATUS_HEADER for Status (in any case),
    _PLAIN for any other name, once it is checked to be a token."""
    if not _TOKEN.match(name):
        raise ValueError("bad response header name %r" % (name,))
    lowered = name.lower()
    if lowered == "content-length":
        return _LENGTH
    if lowered == "status":
        return _STATUS_HEADER
    return _PLAIN

#: How long to wait for the rest of a body before closing a connection.
LINGER_SECONDS = 5.0

#: While a response streams, input that arrives is read ahead (to see an
#: FCGI_ABORT_REQUEST) only while fewer bytes than this wait unread.
LOOKAHEAD_LIMIT = 1 << 18

#: When the application answered without reading all of its request body,
#: up to this many bytes of the rest are read and dropped before
#: FCGI_END_REQUEST, so a web server that cannot take the end of a request
#: before the end of its body (h2o, HAProxy) sees a whole exchange.  Past
#: it, a socket connection is closed after the request ends (the IIS pipe
#: drops the rest as it comes instead).  A body that stops coming (nginx
#: stops sending one once it has the response head) is waited for
#: DRAIN_GAP_SECONDS, at most DRAIN_SECONDS in all; what still comes for
#: it after the request ended is dropped as it comes.
DRAIN_LIMIT = 16 << 20

#: How long the rest of an unread body may take to arrive (see
#: DRAIN_LIMIT), and how long it may pause.
DRAIN_SECONDS = 5.0
DRAIN_GAP_SECONDS = 0.5

#: After the request has ended on a connection about to close, the rest of
#: its body is read and dropped while some of it comes at least this
#: often: a web server that still has body to forward when the connection
#: closes may hang the client's next request (HAProxy 2.6).
CLOSE_GAP_SECONDS = 2.0

#: When the server stops, input that arrives within this many seconds of
#: the last answer (a request the web server sent before it could know)
#: is still served, at most MAX_SERVED_AFTER_STOP requests of it.
STOP_GRACE_SECONDS = 0.1
MAX_SERVED_AFTER_STOP = 10

#: Statuses whose responses never have a body (RFC 9110 §6.4.1): no
#: Content-Length is added to them, and no body is sent.
_BODILESS = frozenset([204, 304] + list(range(100, 200)))

#: While a response streams, the channel is asked whether input waits (a
#: system call) once every LOOK_EVERY chunks, or sooner once LOOK_SECONDS
#: have passed since it was last asked, not for every chunk.
LOOK_EVERY = 16
LOOK_SECONDS = 0.01

_ERROR_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>
<p>{message}</p>
{details}</body></html>
"""

_MESSAGES = {
    400: "The request could not be understood.",
    413: "The request body is larger than this application accepts.",
    500: "The application failed to answer this request.",
}

#: Reasons said where http.HTTPStatus says another: RFC 9110's name for
#: 413, which Python's has only from 3.13 ("Request Entity Too Large"
#: before).
_REASONS = {413: "Content Too Large"}


def _reason(error: BaseException) -> str:
    """An error's message without the "[Errno N]" OSError puts first."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def _as_bytes(part):
    """A block of a body given as a list, as bytes (TypeError if it is not
    bytes-like)."""
    if type(part) is bytes:
        return part
    if not isinstance(part, (bytearray, memoryview)):
        raise TypeError("the response body must be bytes, not %s"
                        % type(part).__name__)
    return bytes(part)


def _status_line(status):
    return "%d %s" % (status, _REASONS.get(status)
                      or HTTPStatus(status).phrase)


def error_page(status: int, message: str, text: Optional[str] = None,
               after: Optional[str] = None) -> bytes:
    """The HTML (UTF-8) of an error page for HTTP ``status``: the status
    line as title and heading, the paragraph ``message``, then ``text``
    (a traceback, a load error) preformatted, escaped and with every
    registered secret redacted, then the paragraph ``after``.  The
    paragraphs are HTML."""
    import html  # only for an error page (html.entities costs at start)
    details = ""
    if text is not None:
        details = "<pre>%s</pre>\n" % html.escape(logs.redact(text))
    if after is not None:
        details += "<p>%s</p>\n" % after
    title = _status_line(status)
    return _ERROR_PAGE.format(title=title, message=message,
                              details=details).encode("utf-8")


class FileWrapper:
    """``wsgi.file_wrapper``: iterate a file in blocks; close it after."""

    def __init__(self, filelike: IO[bytes], block_size: int = 1 << 16) -> None:
        self.filelike = filelike
        self.block_size = block_size
        close = getattr(filelike, "close", None)
        if close is not None:
            self.close = close

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        size = self.block_size
        while True:
            block = read(size)
            if not block:
                return
            yield block


class ResponderSettings:
    """What every request of a server shares."""

    def __init__(self, application: Callable[..., Any],
                 base_environ: Optional[Dict[str, Any]] = None,
                 spool_threshold: int = 1 << 20,
                 max_body: Optional[int] = None,
                 spool_dir: Optional[str] = None, debug: bool = False,
                 spool_body: bool = True,
                 script_name: Optional[str] = None,
                 trust_original_url: bool = False,
                 roles: Iterable[int] = (fastcgi.RESPONDER,),
                 multithread: bool = False, multiprocess: bool = True,
                 errors: Union[IO[str], io.TextIOBase, None] = None,
                 max_conns: int = 1, max_reqs: int = 1) -> None:
        self.application = application
        self.base_environ = dict(base_environ or {})
        self.spool_threshold = spool_threshold
        self.max_body = max_body
        self.spool_dir = spool_dir
        self.spool_body = spool_body
        self.debug = debug
        self.script_name = script_name
        self.trust_original_url = trust_original_url
        self.roles = roles
        self.max_conns = max_conns
        self.max_reqs = max_reqs
        self.wsgi = {
            "wsgi.version": (1, 0),
            "wsgi.multithread": multithread,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.errors": errors if errors is not None else sys.stderr,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
        }


class _Response:
    """start_response() and write() for one request."""

    __slots__ = ("_responder", "head", "has_length", "sent", "head_only",
                 "no_body", "length", "delivered", "written")

    def __init__(self, responder, head_only=False):
        self._responder = responder
        self.head = None
        self.has_length = False
        self.sent = False
        #: A HEAD request: the body the application makes is not sent
        #: (RFC 3875 §4.3.3).
        self.head_only = head_only
        #: No body goes out: HEAD, or a 1xx, 204 or 304 status.
        self.no_body = head_only
        #: The Content-Length the application set (None: none, or one
        #: that is not a number).
        self.length = None
        #: Body bytes the application made (sent or, for ``no_body``,
        #: dropped).
        self.delivered = 0
        #: True once part of the response went to the web server.
        self.written = False

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.head is not None:
            raise AssertionError(
                "start_response() called twice without exc_info")
        if type(status) is not str:
            raise ValueError("bad status %r: it must be a str such as"
                             " '200 OK'" % (status,))
        code = _status_code(status)
        lines = ["Status: ", status, "\r\n"]
        has_length = False
        length = None
        for header in headers:
            try:
                if type(header) is not tuple:
                    raise ValueError
                name, value = header
            except ValueError:
                raise TypeError("bad response header %r: it must be a"
                                " (name, value) tuple of str"
                                % (header,)) from None
            if type(name) is not str:
                raise ValueError("bad response header name %r" % (name,))
            kind = _header_kind(name)
            # Printable text holds no CR, LF or NUL.
            if type(value) is not str or (not value.isprintable()
                                          and _CONTROL.search(value)):
                raise ValueError("bad value for response header %s: %r (it"
                                 " must be a str without CR, LF or NUL)"
                                 % (name, value))
            if kind:
                if kind == _STATUS_HEADER:
                    # The gateway writes the status itself: a second
                    # Status line would let the application's own win at
                    # the server.
                    raise ValueError(
                        "bad response header Status: %r (give the status"
                        " as start_response's first argument, not as a"
                        " header)" % (value,))
                if not has_length:
                    has_length = True
                    declared = value.strip()
                    length = (int(declared) if declared.isascii()
                              and declared.isdigit() else None)
            lines += (name, ": ", value, "\r\n")
        lines.append("\r\n")
        try:
            self.head = "".join(lines).encode("latin-1")
        except UnicodeEncodeError as error:
            raise ValueError("response headers must be latin-1 text: %s"
                             % error) from None
        self.has_length = has_length
        self.length = length
        self.no_body = self.head_only or code in _BODILESS
        return self.app_write

    def app_write(self, data):
        """The ``write()`` start_response returns: :meth:`write`, then a
        look (without waiting) for an abort.  Once the web server has
        aborted the request or gone, it raises ClientDisconnected (an
        OSError, as a write to a closed connection would), so an
        application streaming with write() stops too."""
        responder = self._responder
        if responder.aborted:
            raise ClientDisconnected("the web server aborted the request")
        self.write(data)
        responder.stream_interrupted()

    def write(self, data):
        if self.head is None:
            raise AssertionError("write() called before start_response()")
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError("the response body must be bytes, not %s"
                                % type(data).__name__)
            data = bytes(data)
        responder = self._responder
        if responder.aborted:
            return
        self.delivered += len(data)
        if self.no_body:
            data = b""
        if not self.sent:
            self.sent = True
            data = self.head + data
        elif not data:
            return
        self.written = True
        channel = responder.channel
        if len(data) > fastcgi.MAX_CONTENT and hasattr(channel,
                                                       "write_buffers"):
            # A big chunk (64 KiB is two records): one vectored write,
            # the chunk not copied.
            channel.write_buffers(responder.conn.send_stdout_buffers(data))
            return
        channel.write(responder.conn.send_stdout(data))

    def missing(self):
        """How many bytes of the Content-Length the application set it did
        not deliver (0 when it set none, or for a response with no
        body)."""
        if self.length is None or self.no_body:
            return 0
        return max(0, self.length - self.delivered)


class Responder:
    """Reads requests from one channel and answers them with the
    application, one at a time, until the channel closes or the server
    stops."""

    def __init__(self, settings: ResponderSettings, channel: Channel,
                 server: Optional["IISWSGIServer"] = None) -> None:
        self.settings = settings
        self.channel = channel
        self.server = server
        self.conn = fastcgi.Connection(
            roles=settings.roles, max_conns=settings.max_conns,
            max_reqs=settings.max_reqs)
        self.aborted = False
        self._broken = None
        self._looked_at = 0
        #: Why the response to the request just served is incomplete
        #: (None: it is whole).  The connection then ends without
        #: FCGI_END_REQUEST, so the web server sees the response fail
        #: instead of passing it on as complete.
        self.cut_short: Optional[str] = None
        #: Set when the connection must close once the request has ended:
        #: more of a body nobody read is coming than is worth reading.
        self._drop = False
        self._unlooked = 0
        self._last_look = 0.0
        #: True while the responder waits, between requests, for the web
        #: server: the moment it may be stopped at once.
        self.idle = False
        #: True while it waits for the rest of a request the application
        #: has not been given yet: it may be stopped at once by a stop
        #: that will not wait (a signal, IIS's shutdown event).
        self.receiving = False
        self._in_app = False

    def run(self, until_idle: bool = False) -> str:
        """Serve until the channel ends; returns why: ``"eof"``,
        ``"close"`` (the web server asked for it, or the rest of an unread
        body was too long to wait for), ``"stop"`` (the server is
        stopping), ``"error"`` (the protocol was broken) or ``"cut"``
        (a response was cut short: the request was not ended, and the
        connection must be closed so the web server sees it fail).

        With ``until_idle`` (for a channel a poller saw readable), read
        once, serve what came, and return ``"idle"`` instead of waiting
        when no request is left in progress."""
        conn = self.conn
        channel = self.channel
        server = self.server
        ready = until_idle
        served_after_stop = 0
        try:
            while True:
                event = conn.next_event()
                if event is fastcgi.NEED_DATA:
                    stop = self._send_and_read(ready, until_idle)
                    if stop is not None:
                        return stop
                    ready = False
                elif type(event) is fastcgi.Request:
                    # respond(), without its call.
                    self._in_app = True
                    try:
                        environ = self._respond(event)
                    finally:
                        self._in_app = False
                    stop = (server is not None
                            and server.request_done(environ))
                    if self.cut_short is not None:
                        self._break()
                        return "cut"
                    if stop:
                        if (not server.serve_received
                                or served_after_stop >= MAX_SERVED_AFTER_STOP
                                or not self._more_received()):
                            return "stop"
                        served_after_stop += 1
                        ready = True    # it is here: read it
                    if self._drop:
                        self._close_gently()
                        return "close"
                    if conn.must_close:
                        self._linger()
                        return "close"
                elif type(event) is fastcgi.Abort:
                    # Aborted before its parameters were complete.
                    channel.write(conn.end_request())
                elif event is fastcgi.CLOSED:
                    return "eof"
        except fastcgi.ProtocolError as error:
            if conn.peer_closed:
                log.warning("the web server closed the connection in the"
                            " middle of a record: %s", error)
                return "eof"
            log.error("closing the connection: the web server broke the"
                      " FastCGI protocol: %s", error)
            return "error"
        except ReadTimeout as error:
            if server is not None and server.stopping and not self._in_app:
                return "stop"   # the wait was ended to stop
            log.warning("closing the connection: %s", error)
            return "timeout"
        except ConnectionLost as error:
            log.warning("closing the connection: %s", error)
            return "eof"

    def _send_and_read(self, ready: bool = True,
                       until_idle: bool = False) -> Optional[str]:
        """Send the replies the connection made on its own, then read more
        from the channel into it.

        Between requests it may be time to stop instead: then nothing is
        read and the reason :meth:`run` returns is returned (``"close"``
        once the web server asked for it, ``"stop"`` when the server is
        stopping, ``"idle"`` with ``until_idle``, unless ``ready``: a read
        is known not to wait).  In a request, it always reads."""
        conn = self.conn
        reply = conn.data_to_send()
        if reply:
            self.channel.write(reply)
        if conn.must_close:
            self._linger()
            return "close"
        between = conn.request_id is None and not conn.buffered
        server = self.server
        if between:
            if not ready:
                if server is not None and server.stopping:
                    return "stop"
                if until_idle:
                    return "idle"
            self.idle = True
            # A stop signal that came just before `idle` was set did not
            # interrupt anything: look again (unless input is known to be
            # waiting: it is served first).
            if server is not None and server.stopping and not ready:
                self.idle = False
                return "stop"
        elif not self._in_app:
            # In a request the application has not been given yet: a stop
            # waits for the rest of it only while it is coming.
            self.receiving = True
            if (server is not None and server.stopping
                    and not self.channel.wait_readable(STOP_GRACE_SECONDS)):
                self.receiving = False
                return "stop"
        try:
            data = self.channel.read(between)
        finally:
            self.idle = False
            self.receiving = False
        if (not data and not self._in_app and server is not None
                and server.stopping):
            return "stop"   # the read was cancelled to stop
        conn.receive_data(data)
        return None

    def stream_interrupted(self) -> bool:
        """True when the web server has aborted the active request, or
        closed the connection, while its response is being sent.

        Never waits: input is read only when some is already waiting
        (and while less than LOOKAHEAD_LIMIT bytes are held unread),
        which is asked once every LOOK_EVERY chunks or LOOK_SECONDS; the
        records are looked at, not consumed, so a body the application
        has not read yet stays for ``wsgi.input``."""
        if self.aborted:
            return True
        conn = self.conn
        self._unlooked += 1
        if self._unlooked < LOOK_EVERY:
            now = time.monotonic()
            look = now - self._last_look >= LOOK_SECONDS
        else:
            now = None
            look = True
        if look:
            self._unlooked = 0
            self._last_look = now if now is not None else time.monotonic()
        if (look and not conn.peer_closed and conn.buffered < LOOKAHEAD_LIMIT
                and self.channel.pending()):
            try:
                data = self.channel.read()
            except ConnectionLost:
                data = b""
            conn.receive_data(data)
        # The records held are looked through again only when they
        # changed (arrived here, or were read by wsgi.input).
        buffered = conn.buffered
        if conn.peer_closed or (buffered != self._looked_at
                                and conn.abort_pending()):
            self.aborted = True
            return True
        self._looked_at = buffered
        return False

    @property
    def in_app(self) -> bool:
        """True while a request is being answered."""
        return self._in_app

    def _more_received(self) -> bool:
        """Whether the web server has already sent more (a request it sent
        right after the last answer, before it could know the server is
        stopping): that is served before stopping, not lost."""
        if self.conn.buffered:
            return True
        try:
            return self.channel.wait_readable(STOP_GRACE_SECONDS)
        except OSError:
            return False

    def _break(self):
        """End the connection without ending the request: a socket is
        shut down at once (its owner closes it); the IIS pipe is closed by
        its owner, which then ends the process."""
        shutdown = getattr(self.channel, "shutdown", None)
        if shutdown is not None:
            shutdown()

    def _drain(self) -> str:
        """Read and drop the rest of a body the application did not read:
        ``"done"`` once it has all come (or the request was aborted, or
        the web server closed the connection: the write that follows
        tells); ``"over"`` past DRAIN_LIMIT bytes; ``"stalled"`` when
        nothing came for DRAIN_GAP_SECONDS, or after DRAIN_SECONDS."""
        conn = self.conn
        if conn.input_done or self.aborted:
            return "done"
        # Most often the end of the body is already here (the application
        # did not read an empty body).
        event = conn.next_event()
        if type(event) is fastcgi.BodyEnd:
            return "done"
        channel = self.channel
        dropped = 0
        deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            if event is fastcgi.NEED_DATA:
                left = min(deadline - time.monotonic(), DRAIN_GAP_SECONDS)
                if left <= 0 or not channel.wait_readable(left):
                    return "stalled"
                try:
                    data = channel.read()
                except ConnectionLost:
                    data = b""
                conn.receive_data(data)
            else:
                kind = type(event)
                if kind is fastcgi.Body:
                    dropped += len(event.data)
                    if dropped > DRAIN_LIMIT:
                        return "over"
                elif kind is fastcgi.BodyEnd or event is fastcgi.CLOSED:
                    return "done"
                elif kind is fastcgi.Abort:
                    self.aborted = True
                    return "done"
            event = conn.next_event()

    def _close_gently(self):
        """Before closing a connection with the rest of a body still
        coming: say end of file at once (FIN: the web server will not send
        another request on it), then read and drop what still comes until
        the body ends or the web server stops sending, so the close does
        not reset the connection under the answer just sent."""
        shutdown_write = getattr(self.channel, "shutdown_write", None)
        if shutdown_write is not None:
            shutdown_write()
        self._linger(CLOSE_GAP_SECONDS)

    def _linger(self, seconds: float = LINGER_SECONDS):
        """Before closing a connection the web server asked to close, let
        it finish sending the body of the request just answered (while it
        sends something every ``seconds``), so the close does not reset
        the connection under its feet."""
        conn = self.conn
        if not conn.discarding:
            return
        try:
            while True:
                # What has arrived may already hold the end of the body.
                event = conn.next_event()
                while event is not fastcgi.NEED_DATA and (
                        event is not fastcgi.CLOSED):
                    event = conn.next_event()
                if not conn.discarding or event is fastcgi.CLOSED:
                    return
                self.channel.set_read_timeout(seconds)
                conn.receive_data(self.channel.read())
        except (OSError, fastcgi.ProtocolError):
            return

    def _pull(self):
        """The next piece of the active request's body; b"" at its end.

        ClientDisconnected when the web server aborts the request or the
        connection fails before the body's end; a failed connection is
        kept in ``_broken``, and :meth:`respond` ends it."""
        conn = self.conn
        try:
            while True:
                event = conn.next_event()
                if event is fastcgi.NEED_DATA:
                    # A request is active: this reads, never stops.
                    self._send_and_read()
                    continue
                kind = type(event)
                if kind is fastcgi.Body:
                    return event.data
                if kind is fastcgi.BodyEnd:
                    return b""
                if kind is fastcgi.Abort:
                    self.aborted = True
                    raise ClientDisconnected(
                        "the web server aborted the request before its"
                        " body ended")
                if event is fastcgi.CLOSED:
                    raise ConnectionLost(
                        "the web server closed the connection before the"
                        " request body ended")
        except (fastcgi.ProtocolError, ConnectionLost) as error:
            self._broken = error
            # The message once, without "[Errno 0]" (twice when a
            # ConnectionLost is wrapped): what failed, in words.
            raise ClientDisconnected(_reason(error)) from error

    def respond(self, request: "fastcgi.Request") -> Dict[str, Any]:
        """Run the application for ``request`` and send its response;
        return the request's environ."""
        self._in_app = True
        try:
            return self._respond(request)
        finally:
            self._in_app = False

    def _respond(self, request):
        settings = self.settings
        conn = self.conn
        self.aborted = False
        self._looked_at = 0
        self._unlooked = 0
        self._last_look = 0.0
        environ = build_environ(request.params, settings.script_name,
                                settings.trust_original_url)
        if settings.base_environ:
            environ.update(settings.base_environ)
        environ.update(settings.wsgi)
        if self.server is not None:
            self.server.request_started(environ)
        body = Input(self._pull, settings.spool_threshold, settings.max_body,
                     settings.spool_dir, spool_body=settings.spool_body)
        environ["wsgi.input"] = body
        response = _Response(self, environ.get("REQUEST_METHOD") == "HEAD")
        pending = b""
        self._broken = None
        self.cut_short = None
        self._drop = False
        try:
            status = self._check_length(environ)
            if status:
                pending = self._error_response(response, status, environ)
            else:
                pending = self._call(environ, response)
        except ConnectionLost:
            body.close()
            raise
        except RequestTooLarge:
            pending = self._error_response(response, 413, environ)
        except Exception:
            if self._broken is None and not self.aborted:
                pending = self._error_response(response, 500, environ,
                                               sys.exc_info())
            else:
                # The application failed because its body never came, or
                # because write() told it the request was aborted.
                log.info("the request for %s%s ended early: %s",
                         environ.get("SCRIPT_NAME", ""),
                         environ.get("PATH_INFO", ""), sys.exc_info()[1])
        if self._broken is not None:
            # The connection failed under wsgi.input: nothing more can be
            # said on it.
            body.close()
            raise self._broken
        body.close()
        if self.aborted:
            pending = b""
        elif (self.cut_short is None and response.length is not None
              and not response.no_body
              and response.length > response.delivered):
            # response.missing(), without its call.
            self.cut_short = (
                "the application set Content-Length: %d but made only %d"
                " bytes" % (response.length, response.delivered))
        if self.cut_short is not None:
            log.error("the response to %s %s%s is incomplete (%s): closing"
                      " the connection without ending the request, so that"
                      " the web server sees it fail",
                      environ.get("REQUEST_METHOD"),
                      environ.get("SCRIPT_NAME", ""),
                      environ.get("PATH_INFO", ""), self.cut_short)
            if pending:
                self.channel.write(pending)
            return environ
        if response.written:
            # The head is out: the rest of the response goes now, and the
            # body is drained after (a web server may stop sending a body
            # once it has the head: nginx does).
            self.channel.write(pending)
            pending = b""
        # Otherwise the body is drained before the response goes, while
        # every web server still sends it.
        drained = self._drain()
        if drained != "done":
            where = "%s %s%s" % (environ.get("REQUEST_METHOD"),
                                 environ.get("SCRIPT_NAME", ""),
                                 environ.get("PATH_INFO", ""))
            if self.channel.kind == "socket":
                # More is coming than is worth reading, or it stopped
                # coming (the web server holds it back, or is slow): the
                # connection closes once the request has ended, since a
                # web server may not take the next request on it before
                # the body is all sent (HAProxy).
                log.info("the application did not read the body of %s and"
                         " %s: closing the connection after the request",
                         where, "more than %d bytes of it are still coming"
                         % DRAIN_LIMIT if drained == "over" else
                         "the rest stopped coming")
                self._drop = True
            else:
                # The IIS pipe (which cannot be opened again): what still
                # comes for the request is dropped as it comes.
                log.debug("the application did not read the body of %s:"
                          " the rest is dropped as it comes", where)
        self.channel.write(pending + conn.end_request())
        return environ

    def _check_length(self, environ):
        length = environ.get("CONTENT_LENGTH")
        if not length or length == "0":
            return 0
        try:
            length = int(length)
        except ValueError:
            log.warning("refusing a request with CONTENT_LENGTH %r", length)
            return 400
        if length < 0:
            # Caddy 2.6 says -1 for a chunked body (caddyserver/caddy#5236):
            # its length is unknown, and wsgi.input ends where FCGI_STDIN
            # does (wsgi.input_terminated).
            del environ["CONTENT_LENGTH"]
            return 0
        max_body = self.settings.max_body
        if max_body is not None and length > max_body:
            log.warning("refusing a %d byte request body, over the %d byte"
                        " maximum", length, max_body)
            return 413
        return 0

    def _call(self, environ, response):
        """Run the application; return the last bytes it left to send."""
        result = self.settings.application(environ, response.start_response)
        finished = False
        try:
            if type(result) in _SEQUENCES:
                # The whole body is already here: send it with the end of
                # the request, in one write; its blocks are copied once,
                # straight into the records.
                parts = list(result)
                for part in parts:
                    if type(part) is not bytes:
                        parts = [_as_bytes(part) for part in parts]
                        break
                if response.head is None:
                    raise AssertionError("the application returned without"
                                         " calling start_response()")
                if self.aborted:
                    return b""
                size = sum(map(len, parts))
                response.delivered += size
                if not response.sent:
                    response.sent = True
                    head = response.head
                    # A HEAD answer says the length the GET one would
                    # have, when the application made that body; a 1xx,
                    # 204 or 304 never says one.
                    if not response.has_length and (
                            size if response.head_only
                            else not response.no_body):
                        head = b"%sContent-Length: %d\r\n\r\n" % (
                            head[:-2], size)
                    if response.no_body:
                        parts = []
                    parts.insert(0, head)
                elif response.no_body:
                    return b""
                return self.conn.send_stdout_parts(parts)
            interrupted = self.stream_interrupted
            for data in result:
                if data:
                    response.write(data)
                if response.sent and response.no_body:
                    # The head is out and no body follows (HEAD, 204,
                    # 304): the rest would only be dropped.
                    break
                if interrupted():
                    log.info("the web server %s during the response to"
                             " %s %s%s: the application's iterator is"
                             " closed", "closed the connection"
                             if self.conn.peer_closed else
                             "aborted the request",
                             environ.get("REQUEST_METHOD"),
                             environ.get("SCRIPT_NAME", ""),
                             environ.get("PATH_INFO", ""))
                    return b""
            if not response.sent:
                if response.head is None:
                    raise AssertionError("the application returned without"
                                         " calling start_response()")
                response.write(b"")
            finished = True
            return b""
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                if not finished:
                    close()
                else:
                    # The response went out whole: a failing close() is
                    # the application's to fix, not the web server's to see.
                    try:
                        close()
                    except Exception:
                        log.error("the application's close() failed after"
                                  " its response to %s %s%s was sent whole",
                                  environ.get("REQUEST_METHOD"),
                                  environ.get("SCRIPT_NAME", ""),
                                  environ.get("PATH_INFO", ""),
                                  exc_info=True)

    def _error_response(self, response, status, environ, exc_info=None):
        """Log the failure; the bytes of an error page, if still possible."""
        where = "%s %s%s" % (environ.get("REQUEST_METHOD"),
                             environ.get("SCRIPT_NAME", ""),
                             environ.get("PATH_INFO", ""))
        if exc_info is not None:
            log.error("the application failed on %s", where, exc_info=exc_info)
        if response.sent or self.aborted:
            if exc_info is not None and not self.aborted:
                log.error("the response to %s had started; it is cut short",
                          where)
                self.cut_short = "the application failed after the head"
            return b""
        text = None
        if exc_info is not None and self.settings.debug:
            text = "".join(traceback.format_exception(*exc_info))
        exc_info = None
        message = _MESSAGES[status]
        if status == 500:
            # Where the traceback is, or that no log holds it.
            import html
            message += " " + html.escape(logs.where_logged())
        page = error_page(status, message, text)
        response.sent = True
        return self.conn.send_stdout(
            b"Status: %s\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: %d\r\n\r\n%s"
            % (_status_line(status).encode("latin-1"), len(page),
               b"" if response.head_only else page))
