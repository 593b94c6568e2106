"""``egg:iiswsgi#iis``: the FastCGI server, flup's made to work under IIS.

flup's FastCGI server expects a listening socket on standard input.  IIS
gives a duplex named pipe instead, which cannot be selected on or
accepted from.  :class:`IISWSGIServer` keeps flup's server as its base
(its constructor, options and ``capability``) and replaces how it gets
its bytes and answers requests: see :mod:`iiswsgi.transport` and
:mod:`iiswsgi.responder`.
"""

import logging
import os
import queue
import select
import selectors
import signal
import socket
import sys
import threading
import time

from flup.server.fcgi_single import WSGIServer

from . import fastcgi, logs, transport
from .environ import filesystem_path
from .responder import Responder, ResponderSettings
from .transport import LogWriter
from .watch import DEFAULT_RESTART_REGEX, Watcher

__all__ = ["IISWSGIServer", "make_test_app", "parse_options", "serve",
           "server_factory", "server_runner", "test_app"]

log = logging.getLogger("iiswsgi")

_DEFAULT = object()

_STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGBREAK")

_WAKE = "wake"

#: How long a worker waits on its connection for the next request.
LINGER_SECONDS = 0.05


def _drain(sock):
    try:
        while sock.recv(4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass


class _Interrupted(BaseException):
    """Raised by the signal handler to leave a blocking wait."""


class IISWSGIServer(WSGIServer):
    """A FastCGI-to-WSGI gateway for IIS, nginx, Apache and others.

    With no ``bindAddress`` it serves what the web server gave as
    standard input: the IIS pipe, or a listening socket.  With one (a Unix
    socket path, or a ``(host, port)`` pair) it listens there.

    ``spool_threshold``: request body bytes kept in memory before it
    spools to a temporary file (in ``spool_dir``).  ``max_body``: larger
    bodies are answered 413.  ``max_requests``: exit after that many.
    ``restart_regex``: exit between requests when a matching file under
    ``app_dir`` changes (default on when serving standard input; empty or
    None disables).  ``script_name``: force the application's mount path.
    ``trust_original_url``: route on X-Original-URL even when IIS does not
    say the URL was rewritten.  ``threads``: requests served at once
    when listening.  ``read_timeout``: seconds the web server may stay
    silent in the middle of a request (a record or a request partly
    received), on a listening connection or on the IIS pipe (POSIX; on
    Windows IIS's activityTimeout bounds it); between requests the wait is
    not bounded.  None or 0: for ever.
    """

    def __init__(self, application, environ=None, bindAddress=None,
                 umask=None, debug=False, roles=(fastcgi.RESPONDER,),
                 spool_threshold=1 << 20, max_body=None, spool_dir=None,
                 max_requests=None, restart_regex=_DEFAULT, app_dir=None,
                 script_name=None, trust_original_url=False, threads=16,
                 watch_interval=1.0, read_timeout=60.0,
                 stdin_fd=transport.STDIN_FILENO):
        WSGIServer.__init__(self, application, environ=environ,
                            bindAddress=bindAddress, umask=umask, debug=debug,
                            roles=roles)
        self.spool_threshold = spool_threshold
        self.max_body = max_body
        self.spool_dir = spool_dir
        self.max_requests = max_requests
        self.restart_regex = restart_regex
        self.app_dir = app_dir
        self.script_name = script_name
        self.trust_original_url = trust_original_url
        self.threads = max(1, int(threads))
        self.watch_interval = watch_interval
        self.read_timeout = read_timeout or None
        self.stdin_fd = stdin_fd
        self.requests_served = 0
        self.stop_reason = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._responders = set()
        self._lingering = 0
        self._watcher = None
        self._main_waiting = False
        self._main_thread = None
        self._old_signals = []
        self._pipe_channel = None

    # -- state shared with the responders ------------------------------

    def set_read_timeout(self, seconds):
        """Change ``read_timeout`` (for connections accepted from now on,
        and for the IIS pipe at once)."""
        self.read_timeout = seconds or None
        if self._pipe_channel is not None:
            self._pipe_channel.set_read_timeout(self.read_timeout)

    @property
    def stopping(self):
        return self._stopping.is_set()

    def stop(self, reason):
        """Ask the server to exit once the requests in flight are done."""
        with self._lock:
            if self._stopping.is_set():
                return
            self.stop_reason = reason
            self._stopping.set()
        log.info("stopping: %s", reason)

    def request_done(self, environ):
        """Called after each request; True when the server should stop."""
        with self._lock:
            self.requests_served += 1
            served = self.requests_served
        if served == 1:
            self._start_watching(environ)
        if self.max_requests and served >= self.max_requests:
            self.stop("served %d requests (max_requests)" % served)
        return self._stopping.is_set()

    # -- running ---------------------------------------------------------

    def run(self):
        """Serve until told to stop; return the exit status."""
        # Handlers first: a stop signal that comes once the socket exists
        # (the moment a supervisor sees the server as up) must be handled.
        self._main_thread = threading.get_ident()
        self._install_signal_handlers()
        try:
            if self._bindAddress is not None:
                kind = "bound"
                sock = transport.bind(self._bindAddress, self._umask)
                log.info("listening on %s", _describe(self._bindAddress))
            else:
                kind, sock = transport.inspect_stdin(self.stdin_fd)
        except transport.StdinUnusable as error:
            self._restore_signal_handlers()
            log.error("%s", error)
            if sys.stderr is not None:
                print("iiswsgi: %s" % error, file=sys.stderr)
            return 2
        except BaseException:
            self._restore_signal_handlers()
            raise
        self._watch_shutdown_event()
        try:
            if kind == "pipe":
                self._serve_pipe()
            else:
                self._serve_listener(sock, inherited=kind == "listen")
        finally:
            self._restore_signal_handlers()
            if self._watcher is not None:
                self._watcher.stop()
        log.info("exiting after %d requests: %s", self.requests_served,
                 self.stop_reason)
        return 0

    def _settings(self, multithread, multiprocess, max_conns):
        return ResponderSettings(
            self.application, base_environ=self.environ,
            spool_threshold=self.spool_threshold, max_body=self.max_body,
            spool_dir=self.spool_dir, debug=self.debug,
            script_name=self.script_name,
            trust_original_url=self.trust_original_url, roles=self.roles,
            multithread=multithread, multiprocess=multiprocess,
            errors=LogWriter(logging.getLogger("iiswsgi.errors"),
                             logging.WARNING),
            max_conns=max_conns, max_reqs=max_conns)

    def _serve_pipe(self):
        transport.protect_standard_streams(self.stdin_fd)
        pipe_name = os.environ.get("_FCGI_X_PIPE_")
        log.info("serving the FastCGI pipe on standard input%s",
                 " (%s)" % pipe_name if pipe_name else "")
        settings = self._settings(multithread=False, multiprocess=True,
                                  max_conns=1)
        channel = transport.stdin_channel(self.stdin_fd, self.read_timeout)
        self._pipe_channel = channel
        try:
            while True:
                responder = Responder(settings, channel, self)
                self._responders = {responder}
                try:
                    reason = responder.run()
                except _Interrupted:
                    reason = "stop"
                if (reason != "close" or not channel.can_reconnect
                        or self.stopping):
                    break
                # Without FCGI_KEEP_CONN the web server ends the connection
                # after each request; IIS then connects again to the same
                # pipe for the next one.
                log.debug("the web server closed the connection; waiting"
                          " for it to connect again")
                self._main_waiting = True
                try:
                    channel.reconnect()
                except (OSError, _Interrupted) as error:
                    if not self.stopping:
                        log.error("cannot wait for the web server to"
                                  " connect again: %s", error)
                    reason = "stop"
                    break
                finally:
                    self._main_waiting = False
        finally:
            channel.close()
        if reason == "eof":
            self.stop("the web server closed the pipe")
        elif reason == "close":
            self.stop("the web server asked to close the connection")
        elif reason == "error":
            self.stop("the FastCGI stream broke")
        elif reason == "timeout":
            self.stop("the web server went silent in the middle of a"
                      " request (read_timeout %g s)" % self.read_timeout)

    def _serve_listener(self, sock, inherited):
        """Accept connections; serve requests with a pool of ``threads``
        workers.  Connections between requests wait in a selector, not in
        a thread, so web servers that keep connections open (nginx's
        upstream keepalive) cannot use up the workers."""
        if inherited:
            transport.protect_standard_streams(self.stdin_fd)
            log.info("accepting FastCGI connections on the socket given as"
                     " standard input")
        settings = self._settings(multithread=self.threads > 1,
                                  multiprocess=inherited,
                                  max_conns=self.threads)
        self._web_server_addrs = _allowed_addresses()
        # Several processes may share an inherited socket: never block on
        # an accept another process won.
        sock.setblocking(False)
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ, None)
        wake_reader, self._wake_writer = socket.socketpair()
        wake_reader.setblocking(False)
        selector.register(wake_reader, selectors.EVENT_READ, _WAKE)
        ready = queue.SimpleQueue()
        self._returned = queue.SimpleQueue()
        workers = [threading.Thread(target=self._work, args=(ready,),
                                    name="iiswsgi-worker-%d" % n, daemon=True)
                   for n in range(self.threads)]
        for worker in workers:
            worker.start()
        try:
            while not self.stopping:
                self._main_waiting = True
                try:
                    if self.stopping:
                        break
                    events = selector.select(1.0)
                finally:
                    self._main_waiting = False
                for key, _ in events:
                    if key.data is None:
                        self._accept(sock, selector, settings)
                    elif key.data is _WAKE:
                        _drain(wake_reader)
                        self._take_back(selector)
                    else:
                        selector.unregister(key.fileobj)
                        ready.put(key.data)
        except _Interrupted:
            pass
        finally:
            sock.close()
            if not inherited and isinstance(self._bindAddress, str):
                try:
                    os.unlink(self._bindAddress)
                except OSError:
                    pass
            self.stop(self.stop_reason or "the listening socket closed")
            self._finish(selector, ready, workers)
            selector.close()
            wake_reader.close()
            self._wake_writer.close()

    def _accept(self, sock, selector, settings):
        try:
            client, address = sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            log.error("accept failed: %s", error)
            return
        # Workers only wait to read in the middle of a request (between
        # requests connections wait in the selector): a web server silent
        # that long has gone.
        client.settimeout(self.read_timeout)
        if not self._isClientAllowed(address):
            log.warning("refusing a connection from %s, not in"
                        " FCGI_WEB_SERVER_ADDRS", address)
            client.close()
            return
        responder = Responder(settings, transport.SocketChannel(client), self)
        with self._lock:
            self._responders.add(responder)
        selector.register(client, selectors.EVENT_READ, responder)

    def _work(self, ready):
        """A worker: serve connections that have data, until told to end."""
        while True:
            responder = ready.get()
            if responder is None:
                return
            try:
                reason = responder.run(until_idle=True)
                # A busy web server sends the next request on the same
                # connection at once: wait a moment for it here rather
                # than hand the connection back, while no other connection
                # needs a worker and half the workers are free.
                while (reason == "idle" and not self.stopping
                       and self._linger(responder, ready)):
                    reason = responder.run(until_idle=True)
            except _Interrupted:
                reason = "stop"
            except Exception:
                log.exception("a connection failed")
                reason = "error"
            if reason == "idle":
                self._returned.put(responder)
                try:
                    self._wake_writer.send(b"\0")
                except OSError:
                    self._close(responder)  # the server is shutting down
            else:
                self._close(responder)

    def _linger(self, responder, ready):
        """Wait up to LINGER_SECONDS for ``responder``'s next request;
        True when it came."""
        with self._lock:
            if self._lingering >= self.threads // 2 or not ready.empty():
                return False
            self._lingering += 1
        try:
            readable, _, _ = select.select([responder.channel.sock], [], [],
                                           LINGER_SECONDS)
        except (OSError, ValueError):
            return False
        finally:
            with self._lock:
                self._lingering -= 1
        return bool(readable)

    def _take_back(self, selector):
        """Watch again the connections workers finished with."""
        while True:
            try:
                responder = self._returned.get_nowait()
            except queue.Empty:
                return
            if self.stopping:
                self._close(responder)
            else:
                selector.register(responder.channel.sock,
                                  selectors.EVENT_READ, responder)

    def _close(self, responder):
        responder.channel.close()
        with self._lock:
            self._responders.discard(responder)

    def _finish(self, selector, ready, workers):
        """Close waiting connections; let the workers finish their
        requests, then end them."""
        for key in list(selector.get_map().values()):
            if isinstance(key.data, Responder):
                selector.unregister(key.fileobj)
                self._close(key.data)
        for _ in workers:
            ready.put(None)
        try:
            for worker in workers:
                worker.join()
        except _Interrupted:
            # A second stop signal: exit without waiting for the requests
            # in flight (the workers are daemon threads).
            return
        self._take_back(selector)

    def _isClientAllowed(self, addr):
        allowed = getattr(self, "_web_server_addrs", None)
        if allowed is None or not isinstance(addr, tuple):
            return True
        return addr[0] in allowed

    # -- signals and restarts ------------------------------------------------

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return
        for name in _STOP_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None:
                self._old_signals.append(
                    (number, signal.signal(number, self._on_signal)))

    def _restore_signal_handlers(self):
        for number, handler in self._old_signals:
            signal.signal(number, handler)
        self._old_signals = []

    def _on_signal(self, number, frame):
        if self.stopping and self.stop_reason.startswith("signal"):
            log.warning("second stop signal: exiting without waiting")
            raise _Interrupted()
        if not self.stopping:
            self.stop("signal %s" % signal.Signals(number).name)
        if self._main_waiting or self._any_idle():
            raise _Interrupted()

    def _any_idle(self):
        # tuple() copies the set without letting another thread in, which
        # matters in a signal handler, where taking the lock could deadlock.
        return any(r.idle for r in tuple(self._responders))

    def _wake_main(self):
        """Make the main thread notice :attr:`stopping` while it waits."""
        if os.name == "nt":
            # Cancel its blocking read; retry for a while in case it had
            # not yet entered it.
            from . import winapi
            for _ in range(20):
                if winapi.interrupt_thread(self._main_thread):
                    return
                if not (self._main_waiting or self._any_idle()):
                    return
                time.sleep(0.1)
        elif self._old_signals:
            # Signal handlers are installed, so the main thread's handler
            # runs and leaves its wait.
            signal.pthread_kill(self._main_thread, signal.SIGTERM)

    def _watch_shutdown_event(self):
        value = os.environ.get("_FCGI_SHUTDOWN_EVENT_")
        if os.name != "nt" or not value:
            return
        from . import winapi
        if winapi.watch_shutdown_event(value, self._on_shutdown_event):
            log.info("IIS will signal the shutdown event %s before ending"
                     " this process", value)

    def _on_shutdown_event(self):
        self.stop("IIS signalled the shutdown event")
        if self._main_waiting or self._any_idle():
            self._wake_main()

    def _start_watching(self, environ):
        regex = self.restart_regex
        if regex is _DEFAULT:
            regex = None if self._bindAddress is not None else (
                DEFAULT_RESTART_REGEX)
        if not regex:
            return
        root = (self.app_dir
                or filesystem_path(environ.get("APPL_PHYSICAL_PATH"))
                or os.getcwd())
        if not os.path.isdir(root):
            log.warning("not watching for changes: the application folder"
                        " %r does not exist", root)
            return
        self._watcher = Watcher(root, regex, self._on_file_change,
                                self.watch_interval)
        self._watcher.start()

    def _on_file_change(self, path):
        self.stop("%s changed" % path)
        if self._main_waiting or self._any_idle():
            self._wake_main()


def _describe(address):
    if isinstance(address, str):
        return address
    return "%s:%d" % address


def _allowed_addresses():
    value = os.environ.get("FCGI_WEB_SERVER_ADDRS")
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


# -- Paste --------------------------------------------------------------

_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
               "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
               "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}


def _size(name, value):
    text = str(value).strip().lower()
    number = text.rstrip("kmgib")
    unit = text[len(number):]
    try:
        return int(float(number) * _SIZE_UNITS[unit])
    except (KeyError, ValueError):
        raise ValueError("option %s: %r is not a size (write it as 1048576,"
                         " 1M or 1MiB)" % (name, value)) from None


def _bool(name, value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("option %s: %r is not true or false" % (name, value))


def _int(name, value):
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError("option %s: %r is not a whole number"
                         % (name, value)) from None


def _float(name, value):
    try:
        return float(str(value).strip())
    except ValueError:
        raise ValueError("option %s: %r is not a number of seconds"
                         % (name, value)) from None


def _octal(name, value):
    try:
        return value if isinstance(value, int) else int(str(value), 8)
    except ValueError:
        raise ValueError("option %s: %r is not an octal mode such as 007"
                         % (name, value)) from None


def _text(name, value):
    return str(value)


_OPTIONS = {
    "host": _text, "port": _int, "socket": _text, "umask": _octal,
    "spool_threshold": _size, "max_body": _size, "spool_dir": _text,
    "max_requests": _int, "log_file": _text, "debug": _bool,
    "restart_regex": _text, "app_dir": _text, "script_name": _text,
    "trust_original_url": _bool, "threads": _int, "watch_interval": _float,
    "read_timeout": _float,
}


def parse_options(options):
    """Server options as written in an ini file to keyword arguments for
    :func:`serve`; ValueError names a bad or unknown option."""
    parsed = {}
    for name, value in options.items():
        convert = _OPTIONS.get(name)
        if convert is None:
            raise ValueError("unknown iiswsgi server option %r; the options"
                             " are: %s" % (name, ", ".join(sorted(_OPTIONS))))
        parsed[name] = convert(name, value)
    host = parsed.pop("host", None)
    port = parsed.pop("port", None)
    path = parsed.pop("socket", None)
    if path is not None and (host is not None or port is not None):
        raise ValueError("give either socket or host and port, not both")
    if path is not None:
        parsed["bindAddress"] = path
    elif port is not None:
        parsed["bindAddress"] = (host or "127.0.0.1", port)
    elif host is not None:
        raise ValueError("option host needs a port")
    return parsed


def serve(application, log_file=None, debug=False, **options):
    """Log, then run an :class:`IISWSGIServer`; return its exit status."""
    bound = options.get("bindAddress") is not None
    logs.protect_secrets(os.environ)
    path = logs.configure(log_file, debug=debug, to_stderr=bound)
    log.info("iiswsgi starting (pid %d, log %s)", os.getpid(), path)
    server = IISWSGIServer(application, debug=debug, **options)
    return server.run()


def server_runner(wsgi_app, global_conf, **options):
    """Paste ``paste.server_runner``: serve ``wsgi_app`` now."""
    parsed = parse_options(options)
    parsed.setdefault("app_dir", global_conf.get("here"))
    status = serve(wsgi_app, **parsed)
    if status:
        raise SystemExit(status)


def server_factory(global_conf, **options):
    """Paste ``paste.server_factory``: a callable that serves an app."""
    parsed = parse_options(options)
    parsed.setdefault("app_dir", global_conf.get("here"))

    def serve_app(wsgi_app):
        status = serve(wsgi_app, **parsed)
        if status:
            raise SystemExit(status)
    return serve_app


def test_app(environ, start_response):
    """A page listing the WSGI environ, to check a deployment."""
    import html
    rows = "".join(
        "<tr><th>%s</th><td>%s</td></tr>\n" % (
            html.escape(key, quote=False),
            html.escape(repr(environ[key]), quote=False))
        for key in sorted(environ))
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<title>iiswsgi test application</title></head><body>\n"
            "<h1>iiswsgi test application</h1>\n"
            "<p>This page was served through the iiswsgi FastCGI gateway."
            "</p>\n<table>\n%s</table>\n</body></html>\n" % rows)
    body = page.encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]


def make_test_app(global_conf, **local_conf):
    """Paste ``paste.app_factory`` for :func:`test_app`."""
    return test_app
