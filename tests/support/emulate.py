"""``iiswsgi emulate`` as a real subprocess, for end-to-end tests: started
on a free port, its output read as it comes, stopped with SIGINT as Ctrl-C
would; and plain HTTP requests to it."""

import os
import re
import signal
import subprocess
import sys
from threading import Condition, Thread
from time import monotonic
from urllib.error import HTTPError
from urllib.request import ProxyHandler, Request, build_opener

__all__ = ["EmulateProcess", "fetch", "process_gone"]

_SERVING = re.compile(r"^iiswsgi emulate: serving (?P<site>.+) as IIS would,"
                      r" at (?P<url>http://\S+)$")
_ANOTHER = re.compile(r"^  another application of the site: (http://\S+)$")
_STARTED = re.compile(r"started FastCGI process (\d+)")


def _command():
    """``iiswsgi`` (the console script of this environment), or the same
    through ``-m iiswsgi.cli`` where it is not installed as a script."""
    script = os.path.join(os.path.dirname(sys.executable), "iiswsgi")
    if os.path.isfile(script) and os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", "iiswsgi.cli"]


class EmulateProcess:
    """``iiswsgi emulate SITE_DIR --port 0 [--apphost FILE]`` running in
    ``cwd`` with ``env``.  Use as a context manager: leaving it stops the
    emulator (and, should it leave any, its FastCGI processes)."""

    def __init__(self, site_dir, apphost=None, env=None, cwd=None,
                 start_timeout=20):
        self.command = _command() + ["emulate", str(site_dir), "--port", "0"]
        if apphost is not None:
            self.command += ["--apphost", str(apphost)]
        self._lines = []
        self._changed = Condition()
        self.process = subprocess.Popen(
            self.command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace")
        self._reader = Thread(target=self._read, daemon=True,
                              name="emulate-output")
        self._reader.start()
        try:
            match = self.wait_for(_SERVING, start_timeout)
            self.site = match.group("site")
            self.urls = [match.group("url")]
            # The other applications' lines come right after it, before
            # "Press Ctrl-C to stop." (printed with a flush).
            self.wait_for(re.compile(r"^Press Ctrl-C to stop\.$"), 5)
            self.urls += [found.group(1) for found in
                          map(_ANOTHER.match, self.lines()) if found]
        except BaseException:
            self.close()
            raise

    def _read(self):
        for line in self.process.stdout:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def lines(self):
        with self._changed:
            return list(self._lines)

    def output(self):
        return "\n".join(self.lines())

    def wait_for(self, pattern, timeout):
        """The match of ``pattern`` (a compiled regular expression) on the
        first output line it matches, waiting up to ``timeout`` seconds."""
        deadline = monotonic() + timeout
        with self._changed:
            while True:
                for line in self._lines:
                    found = pattern.search(line)
                    if found:
                        return found
                left = deadline - monotonic()
                if left <= 0 or (not self._reader.is_alive()
                                 and self.process.poll() is not None):
                    raise AssertionError(
                        "no line matching %r from %s within %ss (exit status"
                        " %s); its output:\n%s" % (
                            pattern.pattern, " ".join(self.command), timeout,
                            self.process.poll(), "\n".join(self._lines)))
                self._changed.wait(min(left, 0.5))

    def fastcgi_pids(self):
        """The pids of the FastCGI processes it said it started."""
        return [int(found.group(1)) for found in
                map(_STARTED.search, self.lines()) if found]

    def interrupt(self, timeout=10):
        """Send SIGINT (Ctrl-C); the seconds it took to exit and its exit
        status.  Fails when it is still running after ``timeout``."""
        started = monotonic()
        self.process.send_signal(signal.SIGINT)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("iiswsgi emulate still runs %ss after"
                                 " SIGINT; its output:\n%s"
                                 % (timeout, self.output())) from None
        elapsed = monotonic() - started
        self._reader.join(5)
        return elapsed, status

    def close(self):
        """Make sure nothing it started outlives the test."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for pid in self.fastcgi_pids():
            if not process_gone(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._reader.join(5)
        self.process.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def process_gone(pid):
    """Whether process ``pid`` has ended (a zombie waiting to be reaped has
    ended too)."""
    try:
        with open("/proc/%d/stat" % pid) as stream:
            state = stream.read().rpartition(")")[2].split()[0]
        return state in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def fetch(url, timeout=15):
    """GET ``url``: (status, headers, body as text), error statuses
    included."""
    request = Request(url, headers={"Accept": "*/*"})
    # Straight to the emulator, whatever proxy the environment names.
    opener = build_opener(ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return (response.status, response.headers,
                    response.read().decode("utf-8", "replace"))
    except HTTPError as error:
        with error:
            return (error.code, error.headers,
                    error.read().decode("utf-8", "replace"))
