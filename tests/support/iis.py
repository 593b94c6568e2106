"""An IIS-like harness: starts the gateway the way IIS's FastCGI module
does, with one connected duplex channel as standard input, standard output
and error unusable, IIS's server variables and FCGI_KEEP_CONN."""

import os
import socket
import subprocess
import sys
import time

from iiswsgi.iis.variables import server_variables

from .fcgi import Client

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)


def iis_params(path="/", query="", method="GET", app_path="", site_id=1,
               physical_path="C:\\inetpub\\wwwroot\\", body=b"",
               content_type=None, https=False, headers=None, raw_url=None,
               **extra):
    """The server variables IIS 10 sends for a request to ``path``
    (already decoded text) under the application at ``app_path``, in the
    folder ``physical_path`` (a Windows path, taken as given)."""
    from urllib.parse import quote
    raw_url = raw_url if raw_url is not None else (
        quote(path.encode("utf-8"), safe="/;=,~!$&'()*+@:")
        + ("?" + query if query else ""))
    params = server_variables(
        path, raw_url, physical_path, app_path, site_id, method, len(body),
        server_port="443" if https else "80", remote_port="50123",
        https=https, resolve_physical_path=False)
    # The query as given, also with a raw_url that has none.
    params["QUERY_STRING"] = query
    params.update(HTTP_HOST="localhost", HTTP_USER_AGENT="iiswsgi-tests")
    if content_type:
        params["CONTENT_TYPE"] = content_type
    for name, value in (headers or {}).items():
        params["HTTP_" + name.upper().replace("-", "_")] = value
    params.update(extra)
    return params


def _close_standard_output():
    # IIS gives stdout and stderr as invalid handles.
    os.close(1)
    os.close(2)


class Gateway:
    """One gateway process, as IIS starts it."""

    def __init__(self, args, env=None, cwd=None, log=None,
                 stdio_closed=True):
        self.parent, child = socket.socketpair()
        environ = dict(os.environ)
        environ["PYTHONPATH"] = os.pathsep.join(
            [ROOT, os.path.join(TESTS, "apps")]
            + [p for p in environ.get("PYTHONPATH", "").split(os.pathsep)
               if p])
        if log is not None:
            environ["WSGI_LOG"] = str(log)
        environ.update(env or {})
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable] + list(args), stdin=child, env=environ,
            cwd=cwd, close_fds=True,
            stdout=None if stdio_closed else subprocess.PIPE,
            stderr=None if stdio_closed else subprocess.PIPE,
            preexec_fn=_close_standard_output if stdio_closed else None)
        child.close()
        self.client = Client(self.parent)

    def request(self, path="/", body=b"", rid=1, keep_conn=True, params=None,
                **kw):
        if params is None:
            params = iis_params(path, body=body, **kw)
        return self.client.request(params, body, rid=rid, keep_conn=keep_conn)

    def send(self, data):
        self.client.send(data)

    def close_pipe(self):
        try:
            self.parent.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.parent.close()

    def wait(self, timeout=20):
        return self.process.wait(timeout)

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.parent.close()


def wait_for(predicate, timeout=20, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


class Site:
    """IIS's process handling for one application: requests go to the
    running gateway; when it has exited, a fresh one is started for the
    next request."""

    def __init__(self, start):
        self._start = start
        self.gateway = None
        self.started = 0

    def request(self, params, body=b"", rid=1, keep_conn=True):
        if self.gateway is None or self.gateway.process.poll() is not None:
            if self.gateway is not None:
                self.gateway.stop()
            self.gateway = self._start()
            self.started += 1
        return self.gateway.client.request(params, body, rid=rid,
                                           keep_conn=keep_conn)
