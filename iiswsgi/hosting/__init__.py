"""``python -m iiswsgi``: hosting in the style of Microsoft's wfastcgi.

IIS starts ``python.exe -m iiswsgi`` from a web.config handler.  The WSGI
application is named by WSGI_HANDLER, taken from the environment or from
the ``<appSettings>`` of the web.config in the first request's
APPL_PHYSICAL_PATH.  It is loaded on that first request; if it cannot be,
every request gets a 500 page naming the error, which is logged once, and
the process stays up instead of failing again on every start.

One job per module:

- :mod:`.handler`: WSGI_HANDLER's dotted name to the object it names
- :mod:`.appsettings`: the site's settings applied (environment, WSGI_LOG,
  ``sys.path``, PYTHONPATH, the server options through the settings table)
- :mod:`.application`: :class:`HostedApplication`, loading on the first
  request
- :mod:`.debugger`: WSGI_PTVSD_SECRET / WSGI_PTVSD_ADDRESS
- :mod:`.telemetry`: APPINSIGHTS_INSTRUMENTATIONKEY
- :mod:`.errorpage`: the page served when loading failed
- :mod:`.launch`: :func:`main`, what ``python -m iiswsgi`` runs
"""

from .application import HostedApplication
from .appsettings import server_settings
from .handler import HandlerError, resolve_handler
from .launch import main
from .telemetry import add_telemetry

__all__ = ["HandlerError", "HostedApplication", "add_telemetry", "main",
           "resolve_handler", "server_settings", "start_debugger"]


def __getattr__(name: str) -> object:
    # start_debugger is imported on first use: what it needs (argparse,
    # hashlib, socket...) would only slow every start.
    if name == "start_debugger":
        from .debugger import start_debugger
        return start_debugger
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
