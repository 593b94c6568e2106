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
             sys.executable, path)
    if args:
        log.warning("ignoring arguments %s: settings come from web.config"
                    " <appSettings> and the environment", args)
    application = HostedApplication()
    # Checked before standard input is touched.
    server = IISWSGIServer(application, **server_settings())
    application.server = server
    return server.run()
