"""wfastcgi's APPINSIGHTS_INSTRUMENTATIONKEY: requests and errors traced to
Application Insights, with OpenTelemetry's Azure Monitor distro or the
older applicationinsights package, whichever is installed."""

import atexit
import logging
import os
import sys
from typing import Any, Callable

__all__ = ["add_telemetry", "connection_string"]

log = logging.getLogger(__name__)

# The Azure SDK's loggers that log every HTTP request they make at INFO.
_CHATTY_LOGGERS = ("azure.core.pipeline.policies.http_logging_policy",
                   "azure.monitor.opentelemetry.exporter")


def connection_string(key: str) -> str:
    """APPLICATIONINSIGHTS_CONNECTION_STRING when set, else one naming the
    instrumentation key ``key``."""
    explicit = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    return explicit or "InstrumentationKey=%s" % key


def _quiet_telemetry_loggers() -> None:
    # With logs exported as telemetry, each export would log, and be
    # exported, again.
    for name in _CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def _with_opentelemetry(application: Callable[..., Any], connection: str):
    """``application`` traced by the Azure Monitor distro, or None when it
    is not installed."""
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
    except ImportError:
        return None
    _quiet_telemetry_loggers()
    configure_azure_monitor(connection_string=connection)
    log.info("tracing requests to Azure Monitor (Application Insights)"
             " with OpenTelemetry")
    return OpenTelemetryMiddleware(application)


def _with_applicationinsights(application: Callable[..., Any],
                              connection: str, key: str):
    """``application`` traced by the applicationinsights package, or None
    when it is not installed."""
    try:
        from applicationinsights import channel
        from applicationinsights.requests import WSGIApplication
    except ImportError:
        return None
    fields = dict(part.split("=", 1) for part in connection.split(";")
                  if "=" in part)
    endpoint = fields.get("IngestionEndpoint")
    # A synchronous queue sends in batches and on flush; its flush at exit
    # completes, where an asynchronous sender's thread may be cut short.
    sender = (channel.SynchronousSender(endpoint.rstrip("/") + "/v2/track")
              if endpoint else channel.SynchronousSender())
    telemetry = channel.TelemetryChannel(None,
                                         channel.SynchronousQueue(sender))
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


def add_telemetry(application: Callable[..., Any], key: str
                  ) -> Callable[..., Any]:
    """``application`` with its requests and errors traced to Application
    Insights under the instrumentation key ``key``; ``application`` itself,
    with a warning, when no telemetry package is installed."""
    connection = connection_string(key)
    traced = _with_opentelemetry(application, connection)
    if traced is None:
        traced = _with_applicationinsights(application, connection, key)
    if traced is None:
        log.warning("APPINSIGHTS_INSTRUMENTATIONKEY is set but no telemetry"
                    " package is installed (pip install"
                    " azure-monitor-opentelemetry"
                    " opentelemetry-instrumentation-wsgi); serving without"
                    " telemetry")
        return application
    return traced
