"""Where iiswsgi writes its log.

Under IIS standard output and error are invalid handles, so the log file is
the only place anything shows.  It is, in order: the ``log_file`` option,
the WSGI_LOG setting, or the first writable of
``%IIS_USER_HOME%\\Logs\\%IISEXPRESS_SITENAME%\\iiswsgi.log``,
``%IIS_USER_HOME%\\Logs\\iiswsgi.log``, ``%TEMP%\\iiswsgi.log`` and
``iiswsgi.log`` in the system's temporary directory.

Secrets never reach it: every line the log handlers write (messages,
tracebacks, the application's ``print()``) goes through
:func:`iiswsgi.redaction.redact`.
"""

import io
import logging
import os
import sys
import tempfile
import threading
from typing import List, Mapping, Optional, TextIO

# Redaction lives in iiswsgi.redaction; its names stay importable from here.
from .redaction import (REDACTED, Redactor, add_secret, is_secret_name,
                        protect_secrets, redact)

__all__ = ["FORMAT", "REDACTED", "LogWriter", "Redactor", "add_secret",
           "candidates", "configure", "is_secret_name", "open_log_file",
           "protect_secrets", "redact"]

log = logging.getLogger(__name__)

FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

LOG_NAME = "iiswsgi.log"

# Handlers this module added, so configuring again replaces them.
_installed = []


class _Formatter(logging.Formatter):
    """The log's format, with secrets redacted from the whole line,
    traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(logging.Formatter.format(self, record))


def candidates(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """The default log paths, most specific first."""
    env = os.environ if environ is None else environ
    paths = []
    home = env.get("IIS_USER_HOME")
    if home:
        site = env.get("IISEXPRESS_SITENAME")
        if site:
            paths.append(os.path.join(home, "Logs", site, LOG_NAME))
        paths.append(os.path.join(home, "Logs", LOG_NAME))
    temp = env.get("TEMP")
    if temp:
        paths.append(os.path.join(temp, LOG_NAME))
    paths.append(os.path.join(tempfile.gettempdir(), LOG_NAME))
    seen = set()
    return [p for p in paths if not (p in seen or seen.add(p))]


def open_log_file(path: str, mode: int = 0o600) -> TextIO:
    """Open ``path`` for appending, creating it (with ``mode``, owner-only
    by default) and its folder as needed, never through a symbolic link
    where the platform can refuse one (``O_NOFOLLOW``); OSError when that
    cannot be done."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT
             | getattr(os, "O_NOFOLLOW", 0))
    fd = os.open(path, flags, mode)
    return os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace")


class _FileHandler(logging.StreamHandler):
    """The log file.  It outlives ``logging.config.dictConfig``: that
    closes every handler it finds (Django configures logging so at start),
    but this one is still the root logger's, so closing it would lose the
    log.  Only :func:`configure` closes its file."""

    def __init__(self, path: str, stream: TextIO) -> None:
        logging.StreamHandler.__init__(self, stream)
        self.path = path

    def close(self) -> None:
        self.flush()
        logging.StreamHandler.close(self)

    def close_file(self) -> None:
        self.close()
        self.stream.close()


def configure(log_file: Optional[str] = None, debug: bool = False,
              to_stderr: bool = False,
              environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Send the root logger to the log file (and to stderr if asked and
    usable); return the file's path, or None if no file could be opened."""
    env = os.environ if environ is None else environ
    paths = [log_file] if log_file else (
        [env["WSGI_LOG"]] if env.get("WSGI_LOG") else candidates(env))
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
        getattr(handler, "close_file", handler.close)()
    _installed.clear()
    formatter = _Formatter(FORMAT)
    chosen = None
    failures = []
    for path in paths:
        try:
            stream = open_log_file(path)
        except OSError as error:
            failures.append("%s (%s)" % (path, error.strerror or error))
            continue
        handler = _FileHandler(path, stream)
        handler.setFormatter(formatter)
        _installed.append(handler)
        chosen = path
        break
    if to_stderr and sys.stderr is not None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter)
        _installed.append(handler)
    for handler in _installed:
        root.addHandler(handler)
    level = logging.DEBUG if debug else logging.INFO
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    if failures:
        log.warning(
            "could not open the log file %s", "; ".join(failures))
    return chosen


class LogWriter(io.TextIOBase):
    """A text stream whose lines go to a logger.

    A handler that fails reports it on sys.stderr, which may be this
    stream: such writes, made while the stream is already logging, are
    dropped instead of recursing."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        io.TextIOBase.__init__(self)
        self._logger = logger
        self._level = level
        self._partial = ""
        self._busy = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s"
                            % type(text).__name__)
        if getattr(self._busy, "on", False):
            return len(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        self._log(lines)
        return len(text)

    def flush(self) -> None:
        if self._partial and not getattr(self._busy, "on", False):
            partial, self._partial = self._partial, ""
            self._log([partial])

    def _log(self, lines):
        self._busy.on = True
        try:
            for line in lines:
                self._logger.log(self._level, "%s", line)
        finally:
            self._busy.on = False
