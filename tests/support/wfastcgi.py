"""Plain helpers for the tests of wfastcgi-style hosting (`python -m
iiswsgi` started the IIS way, configured by a web.config's appSettings):
the web.config, a way to run the gateway as if packages were missing, and
a stand-in for the Application Insights ingestion endpoint.

The fixtures built on them (``site``, ``collector``) are in
tests/conftest.py.
"""

import http.server
import json
from xml.sax.saxutils import quoteattr

__all__ = ["Collector", "as_json", "hiding", "telemetry_env",
           "write_web_config"]


def write_web_config(folder, name="web.config", **settings):
    """A web.config whose <appSettings> hold ``settings``."""
    entries = "".join("    <add key=%s value=%s />\n"
                      % (quoteattr(k), quoteattr(v))
                      for k, v in settings.items())
    (folder / name).write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<configuration>\n'
        "  <appSettings>\n%s  </appSettings>\n</configuration>\n" % entries)


def as_json(response):
    """The body of a 200 response, decoded as JSON."""
    assert response.status == 200, response.stdout[:500]
    return json.loads(response.body)


def hiding(*modules):
    """Arguments that run `python -m iiswsgi` as if ``modules`` were not
    installed."""
    return ["-c", "import sys, runpy; sys.modules.update(dict.fromkeys(%r));"
                  " runpy.run_module('iiswsgi', run_name='__main__',"
                  " alter_sys=True)" % (modules,)]


class Collector(http.server.BaseHTTPRequestHandler):
    """A stand-in for the Application Insights ingestion endpoint."""

    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            import gzip
            body = gzip.decompress(body)
        Collector.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        reply = b'{"itemsReceived": 1, "itemsAccepted": 1, "errors": []}'
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


# Everything the telemetry packages would send goes to the collector on
# loopback: nothing leaves the machine.
def telemetry_env(endpoint):
    return {
        "APPLICATIONINSIGHTS_CONNECTION_STRING":
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
            "IngestionEndpoint=%s;LiveEndpoint=%s" % (endpoint, endpoint),
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        # Sample every request: a rate-limited sampler may drop the first.
        "OTEL_TRACES_SAMPLER": "always_on",
    }
