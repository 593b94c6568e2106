"""Send one request to an installed application through its gateway,
started as IIS starts it: the handler's ``scriptProcessor``
(``fullPath|arguments``) run with a connected duplex channel as standard
input, IIS's server variables in the FastCGI params, by
:mod:`iiswsgi.iis.fastcgi_process` as the emulator starts its processes,
but with what the process prints kept for the report.

On POSIX the channel is a socketpair.  On Windows IIS gives a duplex named
pipe, which this module does not create: :func:`probe` raises
ProbeUnavailable there.
"""

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from ..errors import IISWSGIError
from ..iis import fastcgi_process
from ..iis.fastcgi_process import FastCgiProcess, ProcessFailure
from ..iis.paths import decoded_path
from ..iis.variables import server_variables
from ..iis.webconfig import FastCgiApplication, Handler
from ..protocol import cgi

__all__ = ["ProbeUnavailable", "Response", "iis_params", "probe"]

log = logging.getLogger("iiswsgi.msdeploy.probe")


class ProbeUnavailable(IISWSGIError):
    """This system cannot start the gateway the IIS way."""


@dataclass
class Response:
    status: int
    reason: str
    headers: list = field(default_factory=list)
    body: bytes = b""
    errors: bytes = b""           # FastCGI stderr
    output: str = ""              # what the process printed

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def describe(self, limit: int = 2000) -> str:
        lines = ["Status: %d %s" % (self.status, self.reason)]
        lines += ["%s: %s" % pair for pair in self.headers]
        text = self.body[:limit].decode("utf-8", "replace")
        lines += ["", text + ("..." if len(self.body) > limit else "")]
        if self.errors:
            lines += ["FastCGI stderr:",
                      self.errors[-limit:].decode("utf-8", "replace")]
        if self.output.strip():
            lines += ["Process output:", self.output[-limit:]]
        return "\n".join(lines)


def iis_params(url: str, app_dir: str, site_id: int = 1,
               app_path: str = "") -> Dict[str, str]:
    """The server variables IIS sends for a GET of ``url`` to the
    application in ``app_dir``."""
    parts = urlsplit(url)
    raw = app_path + (parts.path or "/") + (
        "?" + parts.query if parts.query else "")
    params = server_variables(app_path + decoded_path(parts.path or "/"),
                              raw, app_dir, app_path, site_id,
                              remote_port="50000")
    params.update(HTTP_HOST="localhost",
                  HTTP_USER_AGENT="iiswsgi test_msdeploy")
    return params


def _failure_reason(failure: ProcessFailure, timeout: float) -> str:
    """What the gateway did, in the probe's words, for a failed exchange."""
    if failure.message in (fastcgi_process.REQUEST,
                           fastcgi_process.ACTIVITY):
        return "timed out after %ds" % timeout
    if failure.message == fastcgi_process.EXITED:
        return "closed the connection without an answer (%s)" % (
            failure.detail)
    return "broke the FastCGI protocol: %s" % failure.detail


def probe(argv: Sequence[str], app_dir: str, url: str = "/",
          env: Optional[Mapping[str, str]] = None, timeout: float = 60,
          params: Optional[Mapping[str, str]] = None) -> Response:
    """Start ``argv`` as IIS starts a FastCGI process (a duplex channel as
    standard input, in a session of its own, in this process's folder as
    IIS starts it in its own, not the site's), with what it prints going
    to a file; send a GET for ``url`` to the application in ``app_dir``
    and return the :class:`Response`: a 502 Response saying why when the
    process answered nothing usable within ``timeout`` seconds."""
    if os.name == "nt":
        raise ProbeUnavailable(
            "starting the gateway as IIS does needs a duplex named pipe on"
            " Windows, which test_msdeploy does not create; test the site"
            " through IIS instead")
    params = params or iis_params(url, app_dir)
    environ = dict(os.environ)
    environ.update(env or {})
    argv = list(argv)
    if argv and os.sep not in argv[0]:
        # As a shell (and subprocess) finds a bare program name.
        argv[0] = shutil.which(argv[0], path=environ.get("PATH")) or argv[0]
    settings = FastCgiApplication(argv[0], activity_timeout=timeout,
                                  request_timeout=timeout)
    with tempfile.TemporaryFile() as output:
        log.info("starting %s for %s", subprocess.list2cmdline(argv),
                 app_dir)
        try:
            process = FastCgiProcess(settings, environ, output, argv)
        except ProcessFailure as failure:
            return Response(502, "Bad Gateway", body=(
                "cannot start %s: %s" % (argv[0], failure.detail)).encode())
        stderr = b""
        try:
            # Without FCGI_KEEP_CONN: the gateway closes the channel after
            # its answer.
            exchange = process.exchange(params, keep_conn=False)
            stdout, stderr, _ = exchange.collect()
            head = cgi.parse_head(stdout)
            status, reason, headers, body = (head.status, head.reason,
                                             head.headers, head.body)
        except (ProcessFailure, cgi.MalformedHead) as error:
            if isinstance(error, cgi.MalformedHead):
                what = "returned malformed headers: %s" % error
            else:
                what = _failure_reason(error, timeout)
            status, reason, headers, body = (
                502, "Bad Gateway", [], ("the gateway %s" % what).encode())
        finally:
            process.stop(grace=10)
        output.seek(0)
        printed = output.read().decode("utf-8", "replace")
    return Response(status, reason, headers, body, stderr, printed)


def gateway_command(handler: Handler) -> List[str]:
    """The argv IIS runs for a web.config handler's scriptProcessor."""
    return handler.argv


def serve_command(ini: str, python: Optional[str] = None) -> List[str]:
    """The argv serving a Paste ini with ``iiswsgi serve``."""
    return [python or sys.executable, "-m", "iiswsgi.cli", "serve",
            os.path.abspath(ini)]
