"""``python -m iiswsgi``: hosting in the style of Microsoft's wfastcgi.

IIS starts ``python.exe -m iiswsgi`` from a web.config handler.  The WSGI
application is named by WSGI_HANDLER, taken from the environment or from
the ``<appSettings>`` of the web.config in the first request's
APPL_PHYSICAL_PATH.  It is loaded on that first request; if it cannot be,
every request gets a 500 page naming the error, which is logged once, and
the process stays up instead of failing again on every start.
"""

import atexit
import html
import importlib
import logging
import os
import re
import sys
import threading

from . import logs
from . import settings as options_table
from .gateway.environ import filesystem_path, remount
from .iis.expand import expand_variables
from .iis.webconfig import app_settings

__all__ = ["HandlerError", "HostedApplication", "add_telemetry", "main",
           "resolve_handler", "start_debugger"]

log = logging.getLogger("iiswsgi")

class HandlerError(Exception):
    """WSGI_HANDLER is missing, malformed or names nothing usable."""


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
            "</body></html>\n" % html.escape(logs.redact(message))
            ).encode("utf-8")

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

    def __call__(self, environ, start_response):
        application = self.application
        if application is None:
            application = self._load(environ)
        return application(environ, start_response)

    def load(self, environ):
        """Apply the site's settings, then import WSGI_HANDLER."""
        app_dir = filesystem_path(environ.get("APPL_PHYSICAL_PATH")) or (
            os.getcwd())
        app_dir = app_dir.rstrip("\\/") or app_dir
        web_config, settings = app_settings(app_dir)
        if web_config is not None:
            logs.protect_secrets(settings)
            log.info("read %d appSettings from %s", len(settings), web_config)
        else:
            log.info("no web.config in %s; using the environment", app_dir)
        # Every appSetting becomes an environment variable before the
        # application is imported (DJANGO_SETTINGS_MODULE and the like).
        os.environ.update(settings)
        if "WSGI_LOG" in settings:
            logs.configure(settings["WSGI_LOG"])
        if os.path.isdir(app_dir):
            os.chdir(app_dir)
            if app_dir not in sys.path:
                sys.path.insert(0, app_dir)
        python_path = _setting(settings, "PYTHONPATH")
        for entry in expand_variables(python_path or "", keep_unknown=False).split(";"):
            entry = entry.strip()
            if entry and entry not in sys.path:
                sys.path.append(entry)
        if self.server is not None:
            # The environment's settings reached the server at start
            # (main); the appSettings' reach it now, checked by the same
            # table, in one call.
            values = server_settings(settings, web_config)
            values["app_dir"] = app_dir
            self.server.apply(values)
            if values.get("script_name"):
                # This request's environ was built before the mount point
                # was known; the next ones are split by the server.
                remount(environ, values["script_name"])
        logs.protect_secrets(os.environ)
        if os.environ.get("WSGI_PTVSD_SECRET"):
            start_debugger(os.environ.get("WSGI_PTVSD_ADDRESS")
                           or "localhost:5678", os.environ["WSGI_PTVSD_SECRET"])
        handler = os.environ.get("WSGI_HANDLER")
        application = resolve_handler(handler)
        log.info("loaded the WSGI application %s", handler)
        key = os.environ.get("APPINSIGHTS_INSTRUMENTATIONKEY")
        if key:
            application = add_telemetry(application, key)
        return application


def server_settings(app_settings=None, web_config=None, environ=None):
    """The server options set by the site (WSGI_READ_TIMEOUT,
    WSGI_RESTART_FILE_REGEX, SCRIPT_NAME), checked by
    :mod:`iiswsgi.settings`: from ``app_settings`` (the appSettings of
    ``web_config``) when given, else from the environment.  A bad value
    is logged, naming the setting and where it came from, and left out:
    the option keeps its value, as a site's bad setting always has."""
    if app_settings is None:
        env = os.environ if environ is None else environ
        values, errors = options_table.site_settings(
            env, options_table.ENVIRONMENT)
    else:
        values, errors = options_table.site_settings(
            app_settings, options_table.app_settings_source(web_config))
    for error in errors:
        log.warning("ignoring %s", error)
    # WSGI_LOG is the log file, which hosting opens itself.
    values.pop("log_file", None)
    return values


def _setting(settings, name):
    """An appSetting by name, in any case (wfastcgi matched PYTHONPATH so)."""
    for key, value in settings.items():
        if key.upper() == name:
            return value
    return None


def start_debugger(address, secret):
    """wfastcgi's WSGI_PTVSD_SECRET / WSGI_PTVSD_ADDRESS: listen for a
    debugger with debugpy (ptvsd's successor), or ptvsd, when installed.
    Returns True when a debugger listens.  The secret is never logged."""
    host, _, port = address.rpartition(":")
    try:
        port = int(port)
    except ValueError:
        log.warning("WSGI_PTVSD_ADDRESS %r is not host:port; not starting"
                    " the debugger", address)
        return False
    host = host.strip("[]") or "localhost"
    try:
        import debugpy
    except ImportError:
        debugpy = None
    if debugpy is not None:
        debugpy.listen((host, port))
        log.info("debugpy is listening on %s:%d: attach to it from Visual"
                 " Studio Code or Visual Studio.  debugpy has no secret, so"
                 " WSGI_PTVSD_SECRET cannot protect it: keep the address on"
                 " localhost or behind a firewall", host, port)
        return True
    try:
        import ptvsd
    except ImportError:
        log.warning("WSGI_PTVSD_SECRET is set but neither debugpy nor ptvsd"
                    " is installed (pip install debugpy); serving without a"
                    " debugger")
        return False
    try:
        ptvsd.enable_attach(secret, address=(host, port))
    except TypeError:
        ptvsd.enable_attach(address=(host, port))
    log.info("ptvsd is listening on %s:%d", host, port)
    return True


def _connection_string(key):
    explicit = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    return explicit or "InstrumentationKey=%s" % key


def _quiet_telemetry_loggers():
    # The Azure SDK logs every HTTP request it makes at INFO; with logs
    # exported as telemetry, each export would log, and be exported, again.
    for name in ("azure.core.pipeline.policies.http_logging_policy",
                 "azure.monitor.opentelemetry.exporter"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def add_telemetry(application, key):
    """wfastcgi's APPINSIGHTS_INSTRUMENTATIONKEY: trace requests and errors
    with OpenTelemetry's Azure Monitor distro, or the older
    applicationinsights package, whichever is installed."""
    connection = _connection_string(key)
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
    except ImportError:
        pass
    else:
        _quiet_telemetry_loggers()
        configure_azure_monitor(connection_string=connection)
        log.info("tracing requests to Azure Monitor (Application Insights)"
                 " with OpenTelemetry")
        return OpenTelemetryMiddleware(application)
    try:
        from applicationinsights import channel
        from applicationinsights.requests import WSGIApplication
    except ImportError:
        log.warning("APPINSIGHTS_INSTRUMENTATIONKEY is set but no telemetry"
                    " package is installed (pip install"
                    " azure-monitor-opentelemetry"
                    " opentelemetry-instrumentation-wsgi); serving without"
                    " telemetry")
        return application
    fields = dict(part.split("=", 1) for part in connection.split(";")
                  if "=" in part)
    endpoint = fields.get("IngestionEndpoint")
    # A synchronous queue sends in batches and on flush; its flush at exit
    # completes, where an asynchronous sender's thread may be cut short.
    sender = (channel.SynchronousSender(endpoint.rstrip("/") + "/v2/track")
              if endpoint else channel.SynchronousSender())
    telemetry = channel.TelemetryChannel(None, channel.SynchronousQueue(sender))
    log.info("tracing requests to Application Insights with the"
             " applicationinsights package")
    traced = WSGIApplication(fields.get("InstrumentationKey", key),
                             application, telemetry_channel=telemetry)
    client = traced.client
    atexit.register(client.flush)

    def with_errors(environ, start_response):
        # The package's middleware records nothing for a request that
        # raises, and it is a generator, so the application runs while the
        # response is iterated: report errors from there.
        try:
            yield from traced(environ, start_response)
        except Exception:
            client.track_exception(*sys.exc_info(), properties={
                "path": environ.get("SCRIPT_NAME", "")
                + environ.get("PATH_INFO", "")})
            raise
    return with_errors


def main(argv=None):
    """Serve the site's WSGI application on standard input, as IIS asks."""
    from .gateway.server import IISWSGIServer
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
