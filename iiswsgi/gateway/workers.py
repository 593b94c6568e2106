"""Several worker processes sharing one listening socket (POSIX only).

With ``workers`` above 1 the server binds (or inherits) its listening
socket, then forks that many children, each running the usual server loop
(:func:`iiswsgi.gateway.listener.serve_listener`) on the shared socket: the
kernel hands each connection to one of them.  The parent serves nothing:
it supervises.  A child that dies (a crash, a signal, ``max_requests``
reached) is replaced; SIGTERM or SIGINT to the parent is passed on to the
children as SIGTERM, which finish their requests in flight and exit, and
then the parent exits (a second signal to the parent ends the children at
once, with SIGKILL).  A child that stopped for a reason that concerns
every process (a changed file under ``restart_regex``, the socket closed)
stops them all.

Under IIS there is nothing to fork: IIS starts the processes itself
(``maxInstances`` of the FastCGI application), so Windows refuses the
option with :class:`WorkersUnsupported`.
"""

import logging
import os
import signal
import time
from typing import TYPE_CHECKING, Dict

from .errors import GatewayError
from .signals import Interrupted

if TYPE_CHECKING:
    import socket

    from .server import IISWSGIServer

__all__ = ["WorkersUnsupported", "check_workers", "serve_workers"]

log = logging.getLogger(__name__)

#: A child's exit status saying "stop every process" (not "replace me").
EXIT_STOP_ALL = 3
#: A child that dies sooner than this after it started is replaced only
#: after this long, so a child that cannot serve does not fork in a loop.
RESTART_DELAY = 1.0


class WorkersUnsupported(GatewayError):
    """``workers`` above 1 where processes cannot be forked."""


def check_workers(count: int) -> None:
    """Refuse ``count`` worker processes where they cannot be had."""
    if count > 1 and not hasattr(os, "fork"):
        raise WorkersUnsupported(
            "workers = %d: iiswsgi cannot start worker processes on this"
            " system (there is no fork()). Under IIS set maxInstances of the"
            " FastCGI application instead (IIS starts the processes itself);"
            " remove the workers option or set it to 1" % count)


def serve_workers(server: "IISWSGIServer", sock: "socket.socket",
                  inherited: bool) -> None:
    """Fork ``server.workers`` children serving ``sock`` and supervise
    them until told to stop."""
    _Supervisor(server, sock, inherited).run()


class _Supervisor:

    def __init__(self, server, sock, inherited):
        self.server = server
        self.sock = sock
        self.inherited = inherited
        self.children: Dict[int, float] = {}   # pid: when it started
        self.signalled = False

    def run(self):
        server = self.server
        log.info("starting %d worker processes", server.workers)
        old = {}
        try:
            for number in (signal.SIGTERM, signal.SIGINT):
                old[number] = signal.signal(number, self._on_signal)
            for _ in range(server.workers):
                if server.stopping:
                    break
                self._fork()
            if server.stopping:
                # A stop signal came while forking: the children started
                # after it did not get it.
                self._signal_children(signal.SIGTERM)
            self._supervise()
        finally:
            for number, handler in old.items():
                signal.signal(number, handler)
            self._end_children()
            self.sock.close()
            address = server.bind_address
            if not self.inherited and isinstance(address, str):
                try:
                    os.unlink(address)
                except OSError:
                    pass
        if not server.stopping:
            server.stop("the worker processes stopped")

    def _on_signal(self, number, frame):
        server = self.server
        if server.stopping and self.signalled:
            # A second stop signal: the children end at once.
            log.warning("second stop signal: ending the worker processes"
                        " without waiting")
            self._signal_children(signal.SIGKILL)
            return
        self.signalled = True
        if not server.stopping:
            server.stop("signal %s" % signal.Signals(number).name)
        self._signal_children(signal.SIGTERM)

    def _on_child_signal(self, number, frame):
        server = self.server
        if server.stopping:
            return
        server.stop("signal %s" % signal.Signals(number).name)
        if server.waiting():
            raise Interrupted()

    def _signal_children(self, number):
        for pid in list(self.children):
            try:
                os.kill(pid, number)
            except ProcessLookupError:
                pass

    def _fork(self):
        pid = os.fork()
        if pid == 0:
            os._exit(self._child())
        self.children[pid] = time.monotonic()
        log.info("worker process %d started", pid)

    def _child(self):
        """The child's whole life: serve, then say how it ended."""
        from .listener import serve_listener
        server = self.server
        status = 1
        try:
            # The handlers inherited are the supervisor's.  SIGTERM stops
            # the child once its requests in flight are done, also when it
            # comes twice (from the parent and from a kill of the whole
            # group); SIGINT, which a terminal sends the whole group, is
            # left to the parent, which passes it on.
            signal.signal(signal.SIGTERM, self._on_child_signal)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            server.worker_process = True
            serve_listener(server, self.sock, self.inherited)
            served_all = bool(server.max_requests) and (
                server.requests_served >= server.max_requests)
            status = 0 if served_all else EXIT_STOP_ALL
        except BaseException:
            log.exception("worker process %d failed", os.getpid())
        finally:
            logging.shutdown()
        return status

    def _supervise(self):
        server = self.server
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return
            started = self.children.pop(pid, None)
            if started is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if code == EXIT_STOP_ALL and not server.stopping:
                server.stop("worker process %d stopped" % pid)
                self._signal_children(signal.SIGTERM)
            if server.stopping:
                log.info("worker process %d exited (%s)", pid,
                         _describe(code))
                continue
            log.warning("worker process %d exited (%s); starting another",
                        pid, _describe(code))
            if time.monotonic() - started < RESTART_DELAY:
                time.sleep(RESTART_DELAY)
                if server.stopping:
                    continue
            self._fork()

    def _end_children(self):
        """On the way out (also after an error here): the children are
        told to stop, and waited for."""
        if not self.children:
            return
        self._signal_children(signal.SIGTERM)
        for pid in list(self.children):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            self.children.pop(pid, None)


def _describe(code):
    if code < 0:
        try:
            return "killed by %s" % signal.Signals(-code).name
        except ValueError:
            return "killed by signal %d" % -code
    return "status %d" % code
