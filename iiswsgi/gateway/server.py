"""``egg:iiswsgi#iis``: the FastCGI server, flup's made to work under IIS.

flup's FastCGI server expects a listening socket on standard input.  IIS
gives a duplex named pipe instead, which cannot be selected on or accepted
from.  :class:`IISWSGIServer` keeps flup's ``WSGIServer`` as its base (its
constructor and the attributes it sets) and replaces how it gets its bytes
and answers requests: :mod:`.pipe` and :mod:`.listener` serve, with
:mod:`.transport`'s channels and :mod:`.responder`'s responders.
"""

import logging
import os
import sys
import threading
from typing import (Any, Callable, Dict, Iterable, Mapping, Optional, Tuple,
                    Union)

from flup.server.fcgi_single import WSGIServer

from .. import logs
from ..protocol import fastcgi
from . import transport
from .pipe import serve_pipe
from .responder import Responder, ResponderSettings
from .signals import Signals
from .site import site_folder
from .watch import DEFAULT_RESTART_REGEX, Watcher
from .workers import WorkersUnsupported, check_workers, serve_workers

__all__ = ["IISWSGIServer"]

log = logging.getLogger(__name__)

_DEFAULT = object()

#: Threads serving requests in one process, when ``threads`` is not given
#: and there are no ``workers``.
DEFAULT_THREADS = 16

#: The options :meth:`IISWSGIServer.apply` may change once serving.
APPLICABLE = frozenset(("read_timeout", "restart_regex", "app_dir",
                        "script_name", "spool_body"))


class IISWSGIServer(WSGIServer):
    """A FastCGI-to-WSGI gateway for IIS, nginx, Apache and others.

    With no ``bindAddress`` it serves what the web server gave as
    standard input: the IIS pipe, or a listening socket.  With one (a Unix
    socket path, or a ``(host, port)`` pair) it listens there.

    The options are those of :data:`iiswsgi.settings.OPTIONS` (where
    each is documented and range-checked): ``spool_threshold``,
    ``max_body``, ``spool_dir``, ``max_requests``, ``restart_regex``
    (default on when serving standard input; empty or None disables),
    ``app_dir``, ``script_name``, ``trust_original_url``, ``threads``
    (None: :data:`DEFAULT_THREADS` in one process, 1 in each of
    ``workers`` processes), ``watch_interval``, ``read_timeout`` (None
    or 0: for ever) and ``workers`` (processes sharing the listening
    socket, see :mod:`.workers`).
    """

    def __init__(self, application: Callable[..., Any],
                 environ: Optional[Dict[str, Any]] = None,
                 bindAddress: Union[str, Tuple[Optional[str], int],
                                    None] = None,
                 umask: Optional[int] = None, debug: bool = False,
                 roles: Iterable[int] = (fastcgi.RESPONDER,),
                 spool_threshold: int = 1 << 20,
                 max_body: Optional[int] = None,
                 spool_dir: Optional[str] = None, spool_body: bool = True,
                 max_requests: Optional[int] = None,
                 restart_regex: Any = _DEFAULT,
                 app_dir: Optional[str] = None,
                 script_name: Optional[str] = None,
                 trust_original_url: bool = False,
                 threads: Optional[int] = None,
                 watch_interval: float = 1.0,
                 read_timeout: Optional[float] = 60.0,
                 workers: int = 1,
                 stdin_fd: int = transport.STDIN_FILENO) -> None:
        WSGIServer.__init__(self, application, environ=environ,
                            bindAddress=bindAddress, umask=umask, debug=debug,
                            roles=roles)
        self.spool_threshold = spool_threshold
        self.max_body = max_body
        self.spool_dir = spool_dir
        self.spool_body = spool_body
        self.max_requests = max_requests
        self.restart_regex = restart_regex
        self.app_dir = app_dir
        self.script_name = script_name
        self.trust_original_url = trust_original_url
        self.watch_interval = watch_interval
        self.read_timeout = read_timeout or None
        self.stdin_fd = stdin_fd
        self.workers = max(1, int(workers))
        if threads is None:
            # Worker processes serve requests at once already: one thread
            # each serves from one loop, with no switching between threads
            # (see the README's "Threads and worker processes").
            threads = DEFAULT_THREADS if self.workers == 1 else 1
        self.threads = max(1, int(threads))
        #: True in a child of :mod:`.workers` (the socket is the parent's).
        self.worker_process = False
        self.requests_served = 0
        self.stop_reason = None
        self.lock = threading.Lock()
        self.responders = set()
        self.main_waiting = False
        self.pipe_channel = None
        #: Whether a request the web server sent right after an answer,
        #: before it could know the server stops, is served first: for a
        #: restart on change, which the web server cannot foresee (IIS
        #: would otherwise get "The FastCGI process exited unexpectedly"
        #: for it).  Not for max_requests, signals or IIS's shutdown.
        self.serve_received = False
        self._stopping = threading.Event()
        #: True once :meth:`stop` was called: a plain attribute, as every
        #: request reads it several times.
        self.stopping = False
        self._watcher = None
        self._watch_prepared = False
        self._responder_settings = []
        self._signals = Signals(self)

    @property
    def bind_address(self) -> Union[str, Tuple[Optional[str], int], None]:
        """The address to listen on (flup's ``_bindAddress``), or None for
        standard input."""
        return self._bindAddress

    # -- settings ------------------------------------------------------------

    def apply(self, settings: Mapping[str, Any]) -> None:
        """Take options that come once serving has begun (the site's
        appSettings, read at the first request): ``read_timeout`` (for
        connections accepted from now on, and for the IIS pipe at once),
        ``restart_regex``, ``app_dir`` (when none was given) and
        ``script_name`` (from the next request on; the caller mounts the
        one in hand with :func:`iiswsgi.gateway.environ.mount`).  The
        values must have been checked with :mod:`iiswsgi.settings`."""
        unknown = set(settings) - APPLICABLE
        if unknown:
            raise ValueError("these options cannot change once serving: %s"
                             % ", ".join(sorted(unknown)))
        if "read_timeout" in settings:
            self.read_timeout = settings["read_timeout"] or None
            if self.pipe_channel is not None:
                self.pipe_channel.set_read_timeout(self.read_timeout)
        if "restart_regex" in settings:
            self.restart_regex = settings["restart_regex"]
        if "app_dir" in settings and self.app_dir is None:
            self.app_dir = settings["app_dir"]
        if "script_name" in settings:
            self.script_name = settings["script_name"]
            for responder_settings in self._responder_settings:
                responder_settings.script_name = self.script_name
        if "spool_body" in settings:
            self.spool_body = settings["spool_body"]
            for responder_settings in self._responder_settings:
                responder_settings.spool_body = self.spool_body

    # -- state shared with the responders ------------------------------------

    def stop(self, reason: str, serve_received: bool = False) -> None:
        """Ask the server to exit once the requests in flight are done;
        with ``serve_received``, also those the web server has already
        sent (see :attr:`serve_received`)."""
        with self.lock:
            if self._stopping.is_set():
                return
            self.stop_reason = reason
            self.serve_received = serve_received
            self.stopping = True
            self._stopping.set()
        log.info("stopping: %s", reason)

    def request_started(self, environ: Mapping[str, Any]) -> None:
        """Called before the application gets each request.  At the first,
        the files to watch are known (the site's folder is the request's):
        their state is taken then, before the application runs, so a
        change made while the first request runs is seen."""
        if self._watch_prepared:
            return
        with self.lock:
            if self._watch_prepared:
                return
            self._watch_prepared = True
            self._watcher = self._make_watcher(environ)

    def request_done(self, environ: Mapping[str, Any]) -> bool:
        """Called after each request; True when the server should stop."""
        with self.lock:
            self.requests_served += 1
            served = self.requests_served
        if served == 1:
            self._start_watching(environ)
        if self.max_requests and served >= self.max_requests:
            self.stop("served %d requests (max_requests)" % served)
        return self._stopping.is_set()

    def add_responder(self, responder: Responder) -> None:
        with self.lock:
            self.responders.add(responder)

    def discard_responder(self, responder: Responder) -> None:
        with self.lock:
            self.responders.discard(responder)

    def waiting(self, receiving: bool = False) -> bool:
        """True when the main thread, or a connection between requests,
        waits and may be interrupted; with ``receiving``, also one waiting
        for the rest of a request the application has not been given
        (for a stop that will not wait for it).  Safe in a signal
        handler."""
        # tuple() copies the set without letting another thread in, which
        # matters in a signal handler, where taking the lock could deadlock.
        return self.main_waiting or any(
            r.idle or (receiving and r.receiving)
            for r in tuple(self.responders))

    # -- running ---------------------------------------------------------------

    def run(self) -> int:
        """Serve until told to stop; return the exit status."""
        # Handlers first: a stop signal that comes once the socket exists
        # (the moment a supervisor sees the server as up) must be handled.
        self._signals.install()
        try:
            check_workers(self.workers)
            if self._bindAddress is not None:
                kind = "bound"
                sock = transport.bind(self._bindAddress, self._umask)
                log.info("listening on %s", _describe(self._bindAddress))
            else:
                kind, sock = transport.inspect_stdin(self.stdin_fd)
        except (transport.StdinUnusable, WorkersUnsupported) as error:
            self._signals.restore()
            log.error("%s", error)
            if sys.stderr is not None:
                sys.stderr.write("iiswsgi: %s\n" % error)
                sys.stderr.flush()
            return 2
        except BaseException:
            self._signals.restore()
            raise
        self._signals.watch_shutdown_event()
        if self.app_dir is not None:
            # The folder is known before any request: watch from now.
            self.request_started({})
        try:
            if kind == "pipe":
                if self.workers > 1:
                    log.warning("workers = %d ignored: the IIS pipe is one"
                                " connection, served by this process alone"
                                " (IIS starts more processes itself)",
                                self.workers)
                serve_pipe(self)
            elif self.workers > 1:
                serve_workers(self, sock, inherited=kind == "listen")
            else:
                # Imported here: the IIS pipe (the cold start that
                # matters) never needs it.
                from .listener import serve_listener
                serve_listener(self, sock, inherited=kind == "listen")
        finally:
            self._signals.restore()
            if self._watcher is not None:
                self._watcher.stop()
        log.info("exiting after %d requests: %s", self.requests_served,
                 self.stop_reason)
        return 0

    def responder_settings(self, multithread: bool, multiprocess: bool,
                           max_conns: int) -> ResponderSettings:
        """What every responder of one way of serving shares."""
        settings = ResponderSettings(
            self.application, base_environ=self.environ,
            spool_threshold=self.spool_threshold, max_body=self.max_body,
            spool_dir=self.spool_dir, debug=self.debug,
            spool_body=self.spool_body,
            script_name=self.script_name,
            trust_original_url=self.trust_original_url, roles=self.roles,
            multithread=multithread, multiprocess=multiprocess,
            # "iiswsgi.errors" is a channel (wsgi.errors), not a module.
            errors=logs.LogWriter(logging.getLogger("iiswsgi.errors"),
                                  logging.WARNING),
            max_conns=max_conns, max_reqs=max_conns)
        self._responder_settings.append(settings)
        return settings

    # -- restarts ----------------------------------------------------------------

    def _watch_target(self, environ):
        """(folder, regex) to watch for ``environ``'s site, or None."""
        regex = self.restart_regex
        if regex is _DEFAULT:
            regex = None if self._bindAddress is not None else (
                DEFAULT_RESTART_REGEX)
        if not regex:
            return None
        return os.path.abspath(self.app_dir or site_folder(environ)), regex

    def _make_watcher(self, environ):
        """A Watcher with its baseline taken, or None."""
        target = self._watch_target(environ)
        if target is None:
            return None
        root, regex = target
        if not os.path.isdir(root):
            log.warning("not watching for changes: the application folder"
                        " %r does not exist", root)
            return None
        watcher = Watcher(root, regex, self._on_file_change,
                          self.watch_interval, busy=self._busy)
        watcher.baseline()
        return watcher

    def _busy(self):
        """Whether a request is in the application now."""
        return any(r.in_app for r in tuple(self.responders))

    def _start_watching(self, environ):
        """After the first request: watch from the baseline taken before
        it, unless the site's settings (read in it) changed what to watch;
        then from now."""
        with self.lock:
            watcher = self._watcher
            target = self._watch_target(environ)
            if watcher is not None and (
                    target is None or (watcher.root, watcher.regex.pattern)
                    != (target[0], getattr(target[1], "pattern", target[1]))):
                watcher.stop()
                watcher = None
            if watcher is None and target is not None:
                watcher = self._make_watcher(environ)
            self._watcher = watcher
        if watcher is not None:
            watcher.start()

    def _on_file_change(self, path):
        self.stop("%s changed" % path, serve_received=True)
        if self.waiting():
            self._signals.wake_main()


def _describe(address):
    if isinstance(address, str):
        return address
    return "%s:%d" % address
