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
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from ..iis.cmdline import split_command_line
from ..iis.variables import server_variables

__all__ = ["ProbeUnavailable", "Response", "iis_params", "probe"]

log = logging.getLogger("iiswsgi.msdeploy.probe")

_HEADER = struct.Struct(">BBHHBB")
_BEGIN, _END, _PARAMS, _STDIN, _STDOUT, _STDERR = 1, 3, 4, 5, 6, 7


class ProbeUnavailable(Exception):
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
    def ok(self):
        return 200 <= self.status < 300

    def describe(self, limit=2000):
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


def iis_params(url, app_dir, site_id=1, app_path=""):
    """The server variables IIS sends for a GET of ``url`` to the
    application in ``app_dir``."""
    parts = urlsplit(url)
    raw = app_path + (parts.path or "/") + (
        "?" + parts.query if parts.query else "")
    params = server_variables(app_path + unquote(parts.path or "/"), raw,
                              app_dir, app_path, site_id,
                              remote_port="50000")
    params.update(HTTP_HOST="localhost",
                  HTTP_USER_AGENT="iiswsgi test_msdeploy")
    return params


def _record(kind, content=b""):
    return _HEADER.pack(1, kind, 1, len(content), 0, 0) + content


def _length(n):
    return bytes((n,)) if n < 128 else struct.pack(">I", n | 0x80000000)


def _pairs(params):
    out = bytearray()
    for name, value in params.items():
        name, value = name.encode("utf-8"), value.encode("utf-8")
        out += _length(len(name)) + _length(len(value)) + name + value
    return bytes(out)


def _request(params):
    data = _pairs(params)
    chunks = [data[i:i + 65535] for i in range(0, len(data), 65535)]
    return (_record(_BEGIN, struct.pack(">HB5x", 1, 0))
            + b"".join(_record(_PARAMS, chunk) for chunk in chunks)
            + _record(_PARAMS) + _record(_STDIN))


def _read_exactly(sock, count):
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def _exchange(sock, params):
    sock.sendall(_request(params))
    stdout, stderr = bytearray(), bytearray()
    while True:
        _, kind, _, length, padding, _ = _HEADER.unpack(
            _read_exactly(sock, 8))
        content = _read_exactly(sock, length + padding)[:length]
        if kind == _STDOUT:
            stdout += content
        elif kind == _STDERR:
            stderr += content
        elif kind == _END:
            return bytes(stdout), bytes(stderr)


def _parse(stdout):
    head, _, body = stdout.partition(b"\r\n\r\n")
    status, reason, headers = 200, "OK", []
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if not name:
            continue
        if name.lower() == "status":
            code, _, reason = value.strip().partition(" ")
            status = int(code)
        else:
            headers.append((name, value.strip()))
    return status, reason, headers, body


def probe(argv, app_dir, url="/", env=None, timeout=60, params=None):
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
        try:
            stdout, stderr = _exchange(parent, params)
            status, reason, headers, body = _parse(stdout)
        except (EOFError, OSError) as error:
            what = ("timed out after %ds" % timeout
                    if isinstance(error, socket.timeout)
                    else "closed the connection without an answer")
            status, reason, headers, body, stderr = (
                502, "Bad Gateway", [], ("the gateway %s" % what).encode(),
                b"")
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


def gateway_command(handler):
    """The argv IIS runs for a web.config handler's scriptProcessor."""
    argv = [handler.full_path] + split_command_line(handler.arguments)
    return argv


def serve_command(ini, python=None):
    """The argv serving a Paste ini with ``iiswsgi serve``."""
    return [python or sys.executable, "-m", "iiswsgi.cli", "serve",
            os.path.abspath(ini)]
