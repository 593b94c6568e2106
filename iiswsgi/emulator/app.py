"""The emulator's request handling, as a WSGI application run by an HTTP
server: route the request to an IIS application and handler, send it to a
FastCGI process with IIS's server variables, and answer the way IIS does
with what comes back (responseBufferLimit, stderrMode, its error pages)."""

import html
import http
import logging
import os
import threading
import time
from urllib.parse import quote, unquote

from ..gateway.environ import remove_dot_segments
from .config import ConfigError, WebConfigCache
from .pool import Pool, QueueFull
from .process import ExchangeEvent, ProcessFailure
from ..iis.variables import server_variables

__all__ = ["Emulator"]

log = logging.getLogger("iiswsgi.emulator")
access_log = logging.getLogger("iiswsgi.emulator.access")

_HOP_BY_HOP = frozenset((
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade"))
_DEFAULT_DOCUMENTS = ("Default.htm", "Default.html", "index.htm",
                      "index.html", "iisstart.htm")
_MAX_HEADER_BYTES = 65536


class _Refusal(Exception):
    """An answer IIS gives itself: status, substatus, message, detail."""

    def __init__(self, status, substatus, message, detail="", code=None,
                 handler=None, module="IIS Web Core"):
        Exception.__init__(self, message)
        self.status = status
        self.substatus = substatus
        self.message = message
        self.detail = detail
        self.code = code
        self.handler = handler
        self.module = module


class Emulator:
    """A WSGI application standing in for IIS serving ``site`` (a
    config.Site).  ``environ`` is the environment FastCGI processes start
    with (os.environ by default)."""

    def __init__(self, site, environ=None, local_addr="127.0.0.1"):
        self.site = site
        self.environ = dict(os.environ if environ is None else environ)
        self.local_addr = local_addr
        self.web_configs = WebConfigCache()
        self._pools = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._reaper = threading.Thread(target=self._reap,
                                        name="iiswsgi-emulate-reaper",
                                        daemon=True)
        self._reaper.start()

    # -- pools --------------------------------------------------------------

    def pool(self, settings):
        with self._lock:
            pool = self._pools.get(settings.key)
            if pool is None:
                environ = dict(self.environ)
                environ.setdefault("APP_POOL_ID", "DefaultAppPool")
                pool = self._pools[settings.key] = Pool(settings, environ)
            return pool

    @property
    def pools(self):
        with self._lock:
            return list(self._pools.values())

    def _reap(self):
        while not self._stopped.wait(1):
            for pool in self.pools:
                pool.reap_idle()

    def close(self):
        """Stop every FastCGI process."""
        self._stopped.set()
        for pool in self.pools:
            pool.close()

    # -- requests -----------------------------------------------------------

    def __call__(self, environ, start_response):
        started = time.monotonic()
        raw_uri = environ.get("REQUEST_URI") or (
            quote(environ.get("PATH_INFO", "").encode("latin-1"))
            + ("?" + environ["QUERY_STRING"]
               if environ.get("QUERY_STRING") else ""))
        raw_path = raw_uri.partition("?")[0]
        try:
            answer = self._answer(environ, raw_uri, raw_path)
        except _Refusal as refusal:
            answer = _Page(refusal, environ, raw_uri)
        except ConfigError as error:
            answer = _Page(_Refusal(500, 19, "The requested page cannot be"
                                    " accessed because the related"
                                    " configuration data for the page is"
                                    " invalid.", str(error), "0x8007000d"),
                           environ, raw_uri)
        return answer.respond(start_response, environ, raw_uri, started)

    def _answer(self, environ, raw_uri, raw_path):
        url_path = remove_dot_segments(
            unquote(raw_path, encoding="utf-8", errors="replace") or "/")
        application, relative = self.site.application_for(url_path)
        if application is None:
            raise _Refusal(404, 0, "The resource you are looking for has"
                           " been removed, had its name changed, or is"
                           " temporarily unavailable.")
        config = self.web_configs.configuration(application, relative)
        handlers = config.handlers
        filtering = config.request_filtering
        if not filtering.allow_double_escaping and (
                "%" in url_path or "+" in url_path):
            raise _Refusal(404, 11, "The request filtering module is"
                           " configured to deny a request that contains a"
                           " double escape sequence.",
                           module="RequestFilteringModule")
        if filtering.hidden_segment(relative) is not None:
            raise _Refusal(404, 8, "The request filtering module is"
                           " configured to deny a path in the URL that"
                           " contains a hiddenSegment section.",
                           module="RequestFilteringModule")
        if not filtering.extension_allowed(relative):
            raise _Refusal(404, 7, "The request filtering module is"
                           " configured to deny the file extension.",
                           module="RequestFilteringModule")
        method = environ.get("REQUEST_METHOD", "GET")
        for handler in handlers:
            if handler.matches(method, relative):
                break
        else:
            handler = None
        if handler is None or not handler.is_fastcgi:
            return _StaticFile(application, relative, url_path, method,
                               config.static_content)
        settings = self.site.settings_for(handler,
                                          config.fastcgi_applications)
        if settings is None:
            raise _Refusal(
                500, 0, "The FastCGI process could not be found",
                "handler %r: its scriptProcessor %r matches no"
                " <fastCgi><application> (fullPath|arguments) in %s" % (
                    handler.name, handler.script_processor,
                    self.site.apphost), "0x80070585", handler.name,
                "FastCgiModule")
        params = self._server_variables(environ, application, url_path,
                                        raw_uri)
        return _FastCgiAnswer(self.pool(settings), handler, params, environ)

    def _server_variables(self, environ, application, url_path, raw_uri):
        host = environ.get("HTTP_HOST", "")
        server_name = host.rpartition(":")[0] if host.rpartition(":")[2] \
            .isdigit() else host
        variables = server_variables(
            url_path, raw_uri, application.physical_path,
            "" if application.path == "/" else application.path,
            self.site.site_id, environ.get("REQUEST_METHOD", "GET"),
            environ.get("CONTENT_LENGTH"), server_name or self.local_addr,
            environ.get("SERVER_PORT", "80"),
            environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            environ.get("REMOTE_ADDR", ""), environ.get("REMOTE_PORT", ""),
            self.local_addr)
        if environ.get("REMOTE_HOST"):
            variables["REMOTE_HOST"] = environ["REMOTE_HOST"]
        if environ.get("CONTENT_TYPE"):
            variables["CONTENT_TYPE"] = environ["CONTENT_TYPE"]
        params = [(name.encode("ascii"), value.encode("utf-8"))
                  for name, value in variables.items()]
        # Request headers, byte for byte as they came (PEP 3333 keeps them
        # as latin-1 text).
        for name, value in environ.items():
            if name.startswith("HTTP_"):
                params.append((name.encode("latin-1"),
                               value.encode("latin-1")))
        return params


# -- answers ------------------------------------------------------------------

class _Answer:
    status = 500
    sent = 0

    def respond(self, start_response, environ, raw_uri, started):
        self._start_response = start_response
        self._log_line = (environ.get("REMOTE_ADDR", "-"),
                          environ.get("REQUEST_METHOD", "-"), raw_uri,
                          started)
        return self

    def _log(self):
        address, method, raw_uri, started = self._log_line
        access_log.info('%s "%s %s" %d %d %.3fs', address, method, raw_uri,
                        self.status, self.sent,
                        time.monotonic() - started)


class _Page(_Answer):
    """An error page of IIS's own (detailed, as IIS shows local
    requests)."""

    def __init__(self, refusal, environ, raw_uri):
        self.status = refusal.status
        reason = http.HTTPStatus(refusal.status).phrase
        title = "HTTP Error %d.%d - %s" % (refusal.status, refusal.substatus,
                                           reason)
        rows = [("Module", refusal.module)]
        if refusal.handler:
            rows.append(("Handler", refusal.handler))
        if refusal.code:
            rows.append(("Error Code", refusal.code))
        rows.append(("Requested URL", "http://%s%s" % (
            environ.get("HTTP_HOST", "localhost"), raw_uri)))
        table = "".join("<tr><th>%s</th><td>%s</td></tr>\n" % (
            html.escape(name), html.escape(value)) for name, value in rows)
        detail = ("<pre>%s</pre>\n" % html.escape(refusal.detail)
                  if refusal.detail else "")
        self.body = (
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<title>IIS 10.0 Detailed Error - %s</title></head>\n<body>\n"
            "<h1>%s</h1>\n<h2>%s</h2>\n%s<table>\n%s</table>\n"
            "<p>Shown by iiswsgi emulate, standing in for IIS.</p>\n"
            "</body></html>\n" % (
                html.escape(title), html.escape(title),
                html.escape(refusal.message), detail, table)).encode("utf-8")
        self.headers = [("Content-Type", "text/html; charset=utf-8"),
                        ("Content-Length", str(len(self.body)))]
        self.status_line = "%d %s" % (refusal.status, reason)
        if refusal.status == 503:
            self.headers.append(("Retry-After", "1"))

    def __iter__(self):
        self._start_response(self.status_line, self.headers)
        self.sent = len(self.body)
        yield self.body

    def close(self):
        self._log()


class _StaticFile(_Answer):
    """IIS's StaticFileModule, for requests no FastCGI handler takes."""

    def __init__(self, application, relative, url_path, method,
                 static_content):
        root = os.path.realpath(application.physical_path)
        path = os.path.realpath(os.path.join(root, *relative.split("/")))
        if os.path.commonpath([root, path]) != root:
            raise _Refusal(404, 0, "The resource you are looking for is not"
                           " here.")
        if os.path.isdir(path):
            for name in _DEFAULT_DOCUMENTS:
                if os.path.isfile(os.path.join(path, name)):
                    path = os.path.join(path, name)
                    break
            else:
                raise _Refusal(403, 14, "The Web server is configured to not"
                               " list the contents of this directory.",
                               module="DirectoryListingModule")
        if not os.path.isfile(path):
            raise _Refusal(404, 0, "The resource you are looking for has"
                           " been removed, had its name changed, or is"
                           " temporarily unavailable.", "No FastCGI handler"
                           " of web.config takes %s, and there is no such"
                           " file" % url_path, "0x80070002",
                           "StaticFile", "IIS Web Core")
        kind = static_content.mime_type(path.replace(os.sep, "/"))
        if kind is None:
            raise _Refusal(404, 3, "The page you are requesting cannot be"
                           " served because of the extension configuration.",
                           module="StaticFileModule", handler="StaticFile")
        if method not in ("GET", "HEAD"):
            raise _Refusal(405, 0, "The page you are looking for cannot be"
                           " displayed because an invalid method (HTTP verb)"
                           " is being used.", module="StaticFileModule",
                           handler="StaticFile")
        self.path = path
        self.kind = kind
        self.status = 200

    def __iter__(self):
        size = os.path.getsize(self.path)
        self._start_response("200 OK", [("Content-Type", self.kind),
                                        ("Content-Length", str(size))])
        with open(self.path, "rb") as stream:
            while True:
                chunk = stream.read(65536)
                if not chunk:
                    break
                self.sent += len(chunk)
                yield chunk

    def close(self):
        self._log()


class _FastCgiAnswer(_Answer):
    """The answer of a FastCGI process, buffered up to the handler's
    responseBufferLimit, with STDERR output treated as stderrMode says."""

    def __init__(self, pool, handler, params, environ):
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
    def __iter__(self):
        try:
            yield from self._run()
        except ProcessFailure as failure:
            self._release()
            if self.headers_sent:
                # Too late for an error page: the connection is cut (the
                # server sees the exception), so the client cannot take
                # the answer for a whole one.
                log.error("%s %s: %s after the answer began: %s",
                          self.environ.get("REQUEST_METHOD"),
                          self.environ.get("REQUEST_URI"), failure.message,
                          failure.detail)
                raise
            yield from self._refuse(_Refusal(
                500, 0, failure.message, failure.detail, failure.code,
                self.handler.name, "FastCgiModule"))

    def _refuse(self, refusal):
        page = _Page(refusal, self.environ,
                     self.environ.get("REQUEST_URI", ""))
        page._start_response = self._start_response
        self.status = page.status
        self.headers_sent = True
        for chunk in page:
            self.sent += len(chunk)
            yield chunk

    def _start(self, attempt):
        body = self.environ.get("wsgi.input")
        length = int(self.environ.get("CONTENT_LENGTH") or 0)
        try:
            self.process = self.pool.acquire()
        except QueueFull as full:
            raise _Refusal(503, 2, "The serverRuntime@appConcurrentRequest"
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
        except _Refusal as refusal:
            yield from self._refuse(refusal)
            return
        head = bytearray()
        stderr = bytearray()
        headers = None
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
            elif headers is None:
                head += data
                headers, rest = _split_head(head)
                if headers is not None:
                    body.append(rest)
                    buffered += len(rest)
            elif not (stderr and self._stderr_fails()):
                body.append(data)
                buffered += len(data)
            # With STDERR output that fails the request, the rest of the
            # answer is read (and dropped) to its end.
            if headers is not None and buffered >= limit and not (
                    stderr and self._stderr_fails()):
                break
            event = next(self.exchange)
        if headers is None:
            raise ProcessFailure(
                "The FastCGI process returned malformed headers",
                "the answer ended before a blank line ended its headers",
                "0x8007000d")
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
                yield from self._refuse(_Refusal(
                    500, 0, "The FastCGI process wrote to STDERR",
                    "stderrMode ReturnGeneric500", "0x80004005",
                    self.handler.name, "FastCgiModule"))
            return
        status, header_list = _status(headers)
        self.status = int(status.split()[0])
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
        return self.settings.stderr_mode in ("ReturnStdErrIn500",
                                             "ReturnGeneric500")

    def _stderr(self, data):
        text = data.decode("utf-8", "replace").rstrip()
        log.warning("FastCGI process %d wrote to STDERR: %s",
                    self.process.pid, text)
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

    def close(self):
        try:
            if self.exchange is not None and not self.exchange.done:
                # The client went away mid-answer.
                self.exchange.abort()
            self._release()
        finally:
            self._log()


def _rewind(body, length):
    if not length:
        return True
    try:
        body.seek(0)
        return True
    except (AttributeError, OSError, ValueError):
        return False


def _split_head(head):
    """(header lines, rest of the data) once ``head`` holds the blank line
    that ends the CGI headers; (None, None) before."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        index = head.find(separator)
        if index >= 0:
            lines = bytes(head[:index]).replace(b"\r\n", b"\n").split(b"\n")
            return lines, bytes(head[index + len(separator):])
    if len(head) > _MAX_HEADER_BYTES:
        raise ProcessFailure(
            "The FastCGI process returned malformed headers",
            "no blank line in the first %d bytes" % _MAX_HEADER_BYTES,
            "0x8007000d")
    return None, None


def _status(lines):
    """The status line and headers of CGI response header lines, as IIS
    reads them: ``Status`` sets the status (200 without one, 302 with a
    ``Location``); hop-by-hop headers are IIS's own business."""
    status = None
    headers = []
    location = False
    for line in lines:
        if not line.strip():
            continue
        name, sep, value = line.decode("latin-1").partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name or " " in name:
            raise ProcessFailure(
                "The FastCGI process returned malformed headers",
                "header line %r" % line.decode("latin-1"), "0x8007000d")
        folded = name.casefold()
        if folded == "status":
            status = value
            continue
        if folded == "location":
            location = True
        if folded in _HOP_BY_HOP:
            continue
        headers.append((name, value))
    if status is None:
        status = "302 Found" if location else "200 OK"
    code, _, reason = status.partition(" ")
    if not code.isdigit() or len(code) != 3:
        raise ProcessFailure(
            "The FastCGI process returned malformed headers",
            "Status: %s" % status, "0x8007000d")
    if not reason.strip():
        try:
            reason = http.HTTPStatus(int(code)).phrase
        except ValueError:
            reason = "Unknown"
    return "%s %s" % (code, reason.strip()), headers
