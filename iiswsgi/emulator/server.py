"""``iiswsgi emulate``: serve a site over HTTP on loopback with waitress,
handing requests to FastCGI processes as IIS would."""

import logging
import os
import signal
import threading
from typing import List, Mapping, Optional

from .app import Emulator
from .config import load_site
from ..iis.variables import SERVER_SOFTWARE

__all__ = ["EmulatorServer"]

log = logging.getLogger("iiswsgi.emulator.server")

#: Connections open at once before new ones wait to be accepted.
CONNECTION_LIMIT = 1000
#: Seconds a connection may send nothing before it is closed (IIS's
#: ``limits@connectionTimeout`` default).
CONNECTION_TIMEOUT = 120


class EmulatorServer:
    """The emulator behind a waitress HTTP server bound to ``host`` and
    ``port`` (0: any free port)."""

    def __init__(self, site_dir: str, host: str = "127.0.0.1",
                 port: int = 8080, apphost: Optional[str] = None,
                 environ: Optional[Mapping[str, str]] = None) -> None:
        import waitress.server

        self.site = load_site(site_dir, apphost)
        self.site_dir = os.path.abspath(site_dir)
        self.emulator = Emulator(self.site, environ, local_addr=host)
        # Enough threads for every process of every pool plus some queued
        # requests; waitress queues the rest itself.  Idle connections
        # take no thread, but waitress stops accepting at connection_limit
        # (100 by default, so 100 idle sockets would stall every request):
        # CONNECTION_LIMIT of them, each closed after IIS's connectionTimeout
        # (120 s) without a byte.  Forwarding headers (X-Forwarded-For,
        # Forwarded, ...) reach the application as HTTP_* variables, as IIS
        # passes them, and are trusted for nothing (no trusted_proxy).
        self.server = waitress.server.create_server(
            self.emulator, host=host, port=port, threads=16,
            ident=SERVER_SOFTWARE, clear_untrusted_proxy_headers=False,
            log_untrusted_proxy_headers=False,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=CONNECTION_TIMEOUT, cleanup_interval=10)
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server.effective_port)

    @property
    def host(self) -> str:
        return self.server.effective_host

    def urls(self) -> List[str]:
        """The URL of each application of the site, the one of SITE_DIR
        first."""
        host = self.host
        if ":" in host:
            host = "[%s]" % host
        base = "http://%s:%s" % (host, self.port)
        urls = []
        for application in sorted(self.site.applications,
                                  key=lambda app: app.path):
            url = base + (application.path.rstrip("/") + "/")
            if os.path.normcase(application.physical_path) == \
                    os.path.normcase(self.site_dir):
                urls.insert(0, url)
            else:
                urls.append(url)
        return urls

    def serve_forever(self) -> None:
        """Serve until stop(), SIGINT (Ctrl-C) or SIGTERM; then stop every
        FastCGI process."""
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                signal.signal(number, self._on_signal)
        server = self.server
        self.emulator.registrations_at_start()
        try:
            while not self._stopped.is_set():
                server.asyncore.loop(timeout=0.5, map=server._map, count=1,
                                     use_poll=True)
        finally:
            self.close()

    def _on_signal(self, number, frame):
        self._stopped.set()

    def stop(self) -> None:
        """Make serve_forever() return (from any thread)."""
        self._stopped.set()
        self.server.trigger.pull_trigger()

    def close(self) -> None:
        log.info("stopping: ending the FastCGI processes")
        self.emulator.close()
        self.server.close()
        self.server.asyncore.close_all(self.server._map)
        self.server.task_dispatcher.shutdown(timeout=2)
        log.info("stopped")
