"""``python -m iiswsgi``: hosting in the style of Microsoft's wfastcgi.

IIS starts ``python.exe -m iiswsgi`` from a web.config handler.  The WSGI
application is named by WSGI_HANDLER, taken from the environment or from
the ``<appSettings>`` of the web.config in the first request's
APPL_PHYSICAL_PATH.  It is loaded on that first request; if it cannot be,
every request gets a 500 page naming the error, which is logged once, and
the process stays up instead of failing again on every start.
"""

import html
import importlib
import logging
import os
import re
import sys
import threading
import xml.etree.ElementTree as ElementTree

from . import logs
from .environ import filesystem_path

__all__ = ["HandlerError", "HostedApplication", "expand_variables",
           "find_web_config", "main", "read_app_settings", "resolve_handler"]

log = logging.getLogger("iiswsgi")

_VARIABLE = re.compile(r"%([^%;]+)%")


class HandlerError(Exception):
    """WSGI_HANDLER is missing, malformed or names nothing usable."""


def find_web_config(directory):
    """The web.config in ``directory``, its name matched in any case."""
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    for name in sorted(names):
        if name.lower() == "web.config":
            return os.path.join(directory, name)
    return None


def read_app_settings(path):
    """The ``<add key value>`` entries of ``<configuration><appSettings>``
    in the web.config at ``path``, in order, as a dict."""
    tree = ElementTree.parse(path)
    settings = {}
    for section in tree.getroot().findall("appSettings"):
        for entry in section.findall("add"):
            key = entry.get("key")
            if key:
                settings[key] = entry.get("value", "")
    return settings


def expand_variables(value, environ=None):
    """``%NAME%`` references replaced from ``environ`` (os.environ),
    matched case-insensitively as Windows does; unknown names become
    empty."""
    env = os.environ if environ is None else environ
    folded = {key.upper(): val for key, val in env.items()}
    return _VARIABLE.sub(lambda m: folded.get(m.group(1).upper(), ""), value)


def resolve_handler(name):
    """The object WSGI_HANDLER names.

    ``name`` is dotted: as many leading names as can be are imported as
    modules, the rest are attributes, and a name followed by ``()`` is
    called with no arguments.  An ImportError raised inside an imported
    module is not mistaken for a missing module: it propagates.
    """
    text = (name or "").strip()
    if not text:
        raise HandlerError("WSGI_HANDLER is not set: add it to the"
                           " <appSettings> of web.config, for example"
                           ' <add key="WSGI_HANDLER" value="myapp.app" />')
    parts = text.split(".")
    for part in parts:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\(\))?", part):
            raise HandlerError("WSGI_HANDLER %r is not a dotted name such as"
                               " 'package.module.app' or"
                               " 'module.make_app()'" % text)
    # Module names end at the first call; the last name is never a module.
    importable = len(parts) - 1
    for index, part in enumerate(parts[:-1]):
        if part.endswith("()"):
            importable = index
            break
    module = None
    for count in range(importable, 0, -1):
        module_name = ".".join(parts[:count])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and (module_name == error.name
                               or module_name.startswith(error.name + ".")):
                continue  # that module does not exist: try a shorter one
            raise
        break
    if module is None:
        raise HandlerError("WSGI_HANDLER %r: no module %r can be imported"
                           " (sys.path is %s)" % (text, parts[0], sys.path))
    target = module
    walked = [module.__name__]
    for part in parts[count:]:
        attribute = part[:-2] if part.endswith("()") else part
        try:
            target = getattr(target, attribute)
        except AttributeError:
            raise HandlerError("WSGI_HANDLER %r: %s has no attribute %r"
                               % (text, ".".join(walked), attribute)) from None
        walked.append(part)
        if part.endswith("()"):
            target = target()
    if target is None:
        raise HandlerError("WSGI_HANDLER %r is None" % text)
    if not callable(target):
        raise HandlerError("WSGI_HANDLER %r is a %s, not a WSGI application"
                           % (text, type(target).__name__))
    return target


def _error_application(message):
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<title>500 Internal Server Error</title></head><body>\n"
            "<h1>500 Internal Server Error</h1>\n"
            "<p>The WSGI application could not be loaded:</p>\n"
            "<pre>%s</pre>\n<p>The traceback is in the iiswsgi log.</p>\n"
            "</body></html>\n" % html.escape(message)).encode("utf-8")

    def failed(environ, start_response):
        start_response("500 Internal Server Error", [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(page)))])
        return [page]
    return failed


class HostedApplication:
    """A WSGI application loaded from the site's settings on its first
    request."""

    def __init__(self, server=None):
        self.server = server
        self.application = None
        self.error = None
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        application = self.application
        if application is None:
            application = self._load(environ)
        return application(environ, start_response)

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
                    self.application = _error_application(message)
            return self.application

    def load(self, environ):
        """Apply the site's settings, then import WSGI_HANDLER."""
        app_dir = filesystem_path(environ.get("APPL_PHYSICAL_PATH")) or (
            os.getcwd())
        app_dir = app_dir.rstrip("\\/") or app_dir
        web_config = find_web_config(app_dir)
        settings = {}
        if web_config is not None:
            settings = read_app_settings(web_config)
            log.info("read %d appSettings from %s", len(settings), web_config)
        else:
            log.info("no web.config in %s; using the environment", app_dir)
        os.environ.update(settings)
        if "WSGI_LOG" in settings:
            logs.configure(settings["WSGI_LOG"])
        if os.path.isdir(app_dir):
            os.chdir(app_dir)
            if app_dir not in sys.path:
                sys.path.insert(0, app_dir)
        python_path = os.environ.get("PYTHONPATH", "") if (
            "PYTHONPATH" in settings) else ""
        for entry in re.split(r";", expand_variables(python_path)):
            entry = entry.strip()
            if entry and entry not in sys.path:
                sys.path.append(entry)
        if self.server is not None:
            if "WSGI_RESTART_FILE_REGEX" in os.environ:
                self.server.restart_regex = os.environ[
                    "WSGI_RESTART_FILE_REGEX"]
            if self.server.app_dir is None:
                self.server.app_dir = app_dir
        handler = os.environ.get("WSGI_HANDLER")
        application = resolve_handler(handler)
        log.info("loaded the WSGI application %s", handler)
        return application


def main(argv=None):
    """Serve the site's WSGI application on standard input, as IIS asks."""
    from .server import IISWSGIServer
    args = sys.argv[1:] if argv is None else argv
    path = logs.configure()
    log.info("iiswsgi starting (pid %d, %s, log %s)", os.getpid(),
             sys.executable, path)
    if args:
        log.warning("ignoring arguments %s: settings come from web.config"
                    " <appSettings> and the environment", args)
    application = HostedApplication()
    server = IISWSGIServer(application)
    application.server = server
    return server.run()
