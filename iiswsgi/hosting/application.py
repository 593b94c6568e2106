"""The site's WSGI application, loaded on its first request.

The first request names the site (APPL_PHYSICAL_PATH), so only then can
its settings be read: :class:`HostedApplication` applies them, starts the
debugger and telemetry they ask for, and imports WSGI_HANDLER.  If that
fails, the error is logged once and every request gets a 500 page naming
it, instead of the process failing again on every start."""

import logging
import os
import threading
from typing import Any, Callable, Iterable, MutableMapping, Optional

from .appsettings import apply_site_settings
from .errorpage import load_error_application
from .handler import resolve_handler
from .telemetry import add_telemetry

__all__ = ["HostedApplication"]

log = logging.getLogger(__name__)

DEFAULT_DEBUGGER_ADDRESS = "localhost:5678"


class HostedApplication:
    """A WSGI application loaded from the site's settings on its first
    request.  ``server`` is the server running it, told the site's server
    options when they are read (see
    :func:`iiswsgi.hosting.appsettings.apply_site_settings`)."""

    def __init__(self, server: Any = None) -> None:
        self.server = server
        self.application: Optional[Callable[..., Iterable[bytes]]] = None
        self.error: Optional[Exception] = None
        self._lock = threading.Lock()

    def _load(self, environ):
        with self._lock:
            if self.application is None:
                try:
                    self.application = self.load(environ)
                except Exception as error:
                    self.error = error
                    message = "%s: %s" % (type(error).__name__, error)
                    log.error("could not load the WSGI application: %s",
                              message, exc_info=True)
                    self.application = load_error_application(message,
                                                              error)
            return self.application

    def __call__(self, environ: MutableMapping[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        application = self.application
        if application is None:
            application = self._load(environ)
        return application(environ, start_response)

    def load(self, environ: MutableMapping[str, Any], *,
             debugger: bool = True, telemetry: bool = True
             ) -> Callable[..., Iterable[bytes]]:
        """Apply the site's settings, then import WSGI_HANDLER.

        With ``debugger`` False, WSGI_PTVSD_SECRET starts no debugger
        listener; with ``telemetry`` False, APPINSIGHTS_INSTRUMENTATIONKEY
        adds no telemetry (``iiswsgi doctor`` loads a site so, beside the
        running one)."""
        apply_site_settings(environ, self.server)
        if debugger and os.environ.get("WSGI_PTVSD_SECRET"):
            # Imported here: its modules (argparse, hashlib, socket...)
            # would only slow every start.
            from .debugger import start_debugger
            start_debugger(os.environ.get("WSGI_PTVSD_ADDRESS")
                           or DEFAULT_DEBUGGER_ADDRESS,
                           os.environ["WSGI_PTVSD_SECRET"])
        handler = os.environ.get("WSGI_HANDLER")
        application = resolve_handler(handler)
        log.info("loaded the WSGI application %s", handler)
        key = os.environ.get("APPINSIGHTS_INSTRUMENTATIONKEY")
        if telemetry and key:
            application = add_telemetry(application, key)
        return application
