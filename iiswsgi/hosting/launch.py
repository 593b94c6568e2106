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
    from ..gateway.server import IISWSGIServer
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
        application = HostedApplication()
        # Checked before standard input is touched.
        server = IISWSGIServer(application, **server_settings())
        application.server = server
        return server.run()
    except Exception as error:
        # IIS says only "The FastCGI process exited unexpectedly": the
        # reason goes to the log and to the Application event log.
        log.critical("iiswsgi could not start: %s: %s",
                     type(error).__name__, error, exc_info=True)
        logs.report_to_event_log(
            "iiswsgi (%s, pid %d) could not start: %s: %s. %s" % (
                sys.executable, os.getpid(), type(error).__name__, error,
                logs.where_logged().replace("The traceback is",
                                            "The details are")))
        raise
