"""Stop signals and IIS's shutdown event: the server finishes the requests
in flight, then exits; a second signal exits at once."""

import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import IISWSGIServer

__all__ = ["Interrupted", "Signals"]

log = logging.getLogger(__name__)

_STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGBREAK")


class Interrupted(BaseException):
    """Raised by the signal handler to leave a blocking wait.

    Control flow, not an error: a BaseException (not an
    :class:`~iiswsgi.errors.IISWSGIError`) so that an application's
    ``except Exception`` cannot swallow it."""


class Signals:
    """The stop signals' handlers for ``server`` (an
    :class:`~iiswsgi.gateway.server.IISWSGIServer`), installed by the main
    thread for the time it serves."""

    def __init__(self, server: "IISWSGIServer") -> None:
        self.server = server
        self.main_thread = None
        self._old = []

    def install(self) -> None:
        """Handle the stop signals (from the main thread only)."""
        self.main_thread = threading.get_ident()
        if threading.current_thread() is not threading.main_thread():
            return
        for name in _STOP_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None:
                self._old.append(
                    (number, signal.signal(number, self._on_signal)))

    def restore(self) -> None:
        """Put back the handlers there were before :meth:`install`."""
        for number, handler in self._old:
            signal.signal(number, handler)
        self._old = []

    def _on_signal(self, number, frame):
        server = self.server
        if server.stopping and server.stop_reason.startswith("signal"):
            log.warning("second stop signal: exiting without waiting")
            raise Interrupted()
        if not server.stopping:
            server.stop("signal %s" % signal.Signals(number).name)
        if server.waiting(receiving=True):
            raise Interrupted()

    def wake_main(self, receiving: bool = False) -> None:
        """Make the main thread notice ``stopping`` while it waits (with
        ``receiving``, also for the rest of a request: see
        :meth:`~iiswsgi.gateway.server.IISWSGIServer.waiting`)."""
        if os.name == "nt":
            # End its wait for input (a read with a timeout waits with
            # PeekNamedPipe), or cancel its blocking read; retry for a
            # while in case it had not yet entered it.
            from ..iis import winapi
            channel = self.server.pipe_channel
            for _ in range(20):
                wake = getattr(channel, "wake", None)
                if wake is not None:
                    wake()
                if winapi.interrupt_thread(self.main_thread):
                    return
                if not self.server.waiting(receiving):
                    return
                time.sleep(0.1)
        elif self._old:
            # Signal handlers are installed, so the main thread's handler
            # runs and leaves its wait.
            signal.pthread_kill(self.main_thread, signal.SIGTERM)

    def watch_shutdown_event(self) -> None:
        """On Windows, stop when IIS signals ``_FCGI_SHUTDOWN_EVENT_``."""
        value = os.environ.get("_FCGI_SHUTDOWN_EVENT_")
        if os.name != "nt" or not value:
            return
        from ..iis import winapi
        if winapi.watch_shutdown_event(value, self._on_shutdown_event):
            log.info("IIS will signal the shutdown event %s before ending"
                     " this process", value)

    def _on_shutdown_event(self):
        # IIS ends the process once signalBeforeTerminateSeconds have
        # passed: a request the application has not been given yet is
        # not waited for (IIS stopped sending it).
        self.server.stop("IIS signalled the shutdown event")
        if self.server.waiting(receiving=True):
            self.wake_main(receiving=True)
