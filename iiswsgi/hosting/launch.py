"""The entry ``python -m iiswsgi`` runs: serve the site's WSGI application
on standard input, as IIS's FastCGI module asks."""

import logging
import os
import sys
from typing import List, Optional

from .. import logs
from .application import HostedApplication
from .appsettings import server_settings

__all__ = ["main"]

log = logging.getLogger(__name__)


def main(argv: Optional[List[str]] = None) -> int:
    """Serve the site's WSGI application on standard input, as IIS asks;
    the exit status."""
    args = sys.argv[1:] if argv is None else argv
    logs.protect_secrets(os.environ)
    path = logs.configure()
    log.info("iiswsgi starting (pid %d, %s, log %s)", os.getpid(),
             sys.executable, path or logs.log_problem() or (
                 "not open yet: no WSGI_LOG in the environment, so lines are"
                 " kept in memory until the site's appSettings name one"))
    if args:
        log.warning("ignoring arguments %s: settings come from web.config"
                    " <appSettings> and the environment", args)
    try:
        # Imported here: an interpreter without the gateway's dependencies
        # (flup) is reported like any failure to start.
        from ..gateway.server import IISWSGIServer
        application = HostedApplication()
        # Checked before standard input is touched.
        server = IISWSGIServer(application, **server_settings())
        application.server = server
        return server.run()
    except Exception as error:
        # IIS says only "The FastCGI process exited unexpectedly": the
        # reason goes to the log, and (on Windows) to the Application event
        # log, as every error of iiswsgi.hosting does.
        log.critical("iiswsgi (%s) could not start: %s: %s",
                     sys.executable, type(error).__name__, error,
                     exc_info=True)
        raise
