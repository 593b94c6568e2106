"""Send one request to an installed application through its gateway,
started as IIS starts it: the handler's ``scriptProcessor``
(``fullPath|arguments``) run with a connected duplex channel as standard
input, IIS's server variables in the FastCGI params.

On POSIX the channel is a socketpair.  On Windows IIS gives a duplex named
pipe, which this module does not create: :func:`probe` raises
ProbeUnavailable there.
"""

import logging
import os
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from ..errors import IISWSGIError
from ..iis.paths import decoded_path
from ..iis.variables import server_variables
from ..iis.webconfig import Handler
from ..protocol import cgi, fastcgi

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


def _exchange(sock, params):
    """Send one request for ``params``; (stdout, stderr) of the answer.
    Raises EOFError when the gateway closes the channel first."""
    connection = fastcgi.ClientConnection()
    # Without FCGI_KEEP_CONN: the gateway closes the channel after it.
    sock.sendall(connection.request(1, params, keep_conn=False))
    stdout, stderr = bytearray(), bytearray()
    while True:
        event = connection.next_event()
        if event is fastcgi.NEED_DATA:
            connection.receive_data(sock.recv(65536))
        elif event is fastcgi.CLOSED:
            raise EOFError("the gateway closed the channel before"
                           " FCGI_END_REQUEST")
        elif isinstance(event, fastcgi.Stdout):
            stdout += event.data
        elif isinstance(event, fastcgi.Stderr):
            stderr += event.data
        elif isinstance(event, fastcgi.EndRequest):
            return bytes(stdout), bytes(stderr)


def probe(argv: Sequence[str], app_dir: str, url: str = "/",
          env: Optional[Mapping[str, str]] = None, timeout: float = 60,
          params: Optional[Mapping[str, str]] = None) -> Response:
    """Start ``argv`` in ``app_dir`` with a duplex channel as standard
    input, send a GET for ``url`` and return the :class:`Response`; a 502
    Response when the process answered nothing."""
    if os.name == "nt":
        raise ProbeUnavailable(
            "starting the gateway as IIS does needs a duplex named pipe on"
            " Windows, which test_msdeploy does not create; test the site"
            " through IIS instead")
    params = params or iis_params(url, app_dir)
    environ = dict(os.environ)
    environ.update(env or {})
    parent, child = socket.socketpair()
    with tempfile.TemporaryFile() as output:
        log.info("starting %s in %s", subprocess.list2cmdline(argv),
                 app_dir)
        try:
            process = subprocess.Popen(argv, stdin=child, stdout=output,
                                       stderr=subprocess.STDOUT,
                                       cwd=app_dir, env=environ,
                                       close_fds=True)
        except OSError as error:
            parent.close()
            child.close()
            return Response(502, "Bad Gateway", body=(
                "cannot start %s: %s" % (argv[0], error)).encode())
        child.close()
        parent.settimeout(timeout)
        stderr = b""
        try:
            stdout, stderr = _exchange(parent, params)
            head = cgi.parse_head(stdout)
            status, reason, headers, body = (head.status, head.reason,
                                             head.headers, head.body)
        except (EOFError, OSError, fastcgi.ProtocolError,
                cgi.MalformedHead) as error:
            if isinstance(error, socket.timeout):
                what = "timed out after %ds" % timeout
            elif isinstance(error, EOFError):
                what = "closed the connection without an answer"
            elif isinstance(error, cgi.MalformedHead):
                what = "returned malformed headers: %s" % error
            else:
                what = "broke the FastCGI protocol: %s" % error
            status, reason, headers, body = (
                502, "Bad Gateway", [], ("the gateway %s" % what).encode())
        finally:
            try:
                parent.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            parent.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
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
