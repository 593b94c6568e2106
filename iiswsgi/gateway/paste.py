"""The Paste entry points of ``egg:iiswsgi#iis`` (``paste.server_runner``,
``paste.server_factory``), and :func:`serve`, which they and
``iiswsgi serve`` share."""

import logging
import os
from typing import Any, Callable, Mapping, Optional

from .. import logs, settings
from .server import IISWSGIServer

__all__ = ["serve", "server_factory", "server_runner"]

log = logging.getLogger(__name__)


def serve(application: Callable[..., Any], log_file: Optional[str] = None,
          debug: bool = False, **options: Any) -> int:
    """Log, then run an :class:`IISWSGIServer`; return its exit status.
    ``options`` must have been checked (:func:`iiswsgi.settings.parse_options`)."""
    bound = options.get("bindAddress") is not None
    logs.protect_secrets(os.environ)
    path = logs.configure(log_file, debug=debug, to_stderr=bound)
    log.info("iiswsgi starting (pid %d, log %s)", os.getpid(), path)
    server = IISWSGIServer(application, debug=debug, **options)
    return server.run()


def _source(global_conf):
    # Paste passes the ini's path, not the section's name.
    return settings.ini_source(global_conf.get("__file__"))


def server_runner(wsgi_app: Callable[..., Any], global_conf: Mapping[str, Any],
                  **options: Any) -> None:
    """Paste ``paste.server_runner``: serve ``wsgi_app`` now."""
    parsed = settings.parse_options(options, _source(global_conf))
    parsed.setdefault("app_dir", global_conf.get("here"))
    status = serve(wsgi_app, **parsed)
    if status:
        raise SystemExit(status)


def server_factory(global_conf: Mapping[str, Any],
                   **options: Any) -> Callable[[Callable[..., Any]], None]:
    """Paste ``paste.server_factory``: a callable that serves an app."""
    parsed = settings.parse_options(options, _source(global_conf))
    parsed.setdefault("app_dir", global_conf.get("here"))

    def serve_app(wsgi_app):
        status = serve(wsgi_app, **parsed)
        if status:
            raise SystemExit(status)
    return serve_app
