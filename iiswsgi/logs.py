"""Where iiswsgi writes its log.

Under IIS standard output and error are invalid handles, so the log file is
the only place anything shows.  It is the ``log_file`` option, else the
WSGI_LOG setting (the environment at start, the site's appSettings at the
first request), else the first writable of
``%IIS_USER_HOME%\\Logs\\%IISEXPRESS_SITENAME%\\iiswsgi.log`` and
``%IIS_USER_HOME%\\Logs\\iiswsgi.log`` (IIS Express's per-user folder).
Never a shared temporary folder: until a log file is known, the lines are
kept in memory (the last :data:`BUFFERED_LINES`) and written to stderr when
that is usable, then written to the log file as soon as one opens.

The file is opened never through a link, never when another user owns it,
and with its permissions tightened to at most 0640; several processes (IIS's
``maxInstances``) may write it at once.  It rotates at WSGI_LOG_MAX_BYTES
(default 10 MiB) keeping WSGI_LOG_BACKUP_COUNT old files (default 5:
``iiswsgi.log.1`` ... ``iiswsgi.log.5``), as :class:`logging.handlers.
RotatingFileHandler` would, but safely with several writers: one process
renames, under a lock folder (``iiswsgi.log.rotating``), and every process
notices the new file by its identity and reopens it.  On Windows the file is
opened with FILE_SHARE_DELETE so it can be renamed while others hold it.

The gateway's own records, the application's ``print()`` and its stderr
reach the log whatever logging configuration the application runs (Django's
``LOGGING``, ``disable_existing_loggers`` included): they are handled on the
``iiswsgi`` logger itself, which such configurations cannot disable, and
still propagate to the application's own handlers (a console handler's copy
on stderr is not logged twice).
Control characters in messages (a ``%0d%0a`` decoded from a URL) are
escaped, so a request cannot forge log lines.

Secrets never reach it: every line the log handlers write (messages,
tracebacks, the application's ``print()``) goes through
:func:`iiswsgi.redaction.redact`.
"""

import collections
import errno
import io
import logging
import os
import re
import stat
import sys
import threading
import time
import traceback
from typing import Any, List, Mapping, Optional, TextIO

# Redaction lives in iiswsgi.redaction; its names stay importable from here.
from .redaction import (REDACTED, Redactor, add_secret, is_secret_name,
                        protect_secrets, redact)

__all__ = ["BUFFERED_LINES", "DEFAULT_BACKUP_COUNT", "DEFAULT_MAX_BYTES",
           "FORMAT", "REDACTED", "LogFile", "LogWriter", "Redactor",
           "add_secret", "candidates", "configure", "current_log_path",
           "escape_controls", "is_secret_name", "log_problem",
           "open_log_file", "protect_secrets", "redact",
           "report_to_event_log", "where_logged"]

log = logging.getLogger(__name__)

FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

LOG_NAME = "iiswsgi.log"

# The package's logger, which configure() sets up (every iiswsgi.* logger's
# parent), and hosting's, whose errors also go to the Windows event log.
_PACKAGE = __name__.split(".")[0]
_HOSTING = _PACKAGE + ".hosting"

#: The rotation defaults: 10 MiB, five old files.
DEFAULT_MAX_BYTES = 10 << 20
DEFAULT_BACKUP_COUNT = 5

#: Lines kept in memory until a log file is open.
BUFFERED_LINES = 1000



class _Formatter(logging.Formatter):
    """The log's format, with secrets redacted from the whole line,
    traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(logging.Formatter.format(self, record))


# -- control characters --------------------------------------------------------

_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_CONTROLS_BUT_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}
_TRACEBACK_HEADERS = ("Traceback (most recent call last):\n",)


def _escape(match):
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code


def escape_controls(text: str, keep_newlines: bool = False) -> str:
    """``text`` with its control characters (tab aside) written as ``\\r``,
    ``\\n``, ``\\x1b``...; with ``keep_newlines`` the line feeds stay (a
    traceback's own lines)."""
    pattern = _CONTROLS_BUT_NEWLINE if keep_newlines else _CONTROLS
    return pattern.sub(_escape, text)


class _LineFormatter(_Formatter):
    """One record, one line: control characters in the message (which may
    hold a request's URL, decoded) are escaped; a traceback keeps its own
    line structure, with its other control characters escaped.  Secrets are
    redacted from the whole (:class:`_Formatter`)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        record.message = escape_controls(message)
        try:
            return _Formatter.formatMessage(self, record)
        finally:
            record.message = message

    def formatException(self, ei: Any) -> str:
        # The traceback's own pieces (its header, the chaining lines, the
        # indented frames) keep their lines; a piece that is an exception's
        # message (or note), which may hold a URL, is one line.
        pieces = []
        for piece in traceback.format_exception(*ei):
            body, newline = (piece[:-1], "\n") if piece.endswith(
                "\n") else (piece, "")
            if piece.startswith((" ", "\n")) or piece in _TRACEBACK_HEADERS:
                pieces.append(escape_controls(piece, keep_newlines=True))
            else:
                pieces.append(escape_controls(body) + newline)
        text = "".join(pieces)
        return text[:-1] if text.endswith("\n") else text

    def formatStack(self, stack_info: str) -> str:
        return escape_controls(_Formatter.formatStack(self, stack_info),
                               keep_newlines=True)


# -- the log file ----------------------------------------------------------------

def candidates(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """The default log paths, most specific first: the IIS Express user's
    own folder only (never a shared temporary folder)."""
    env = os.environ if environ is None else environ
    paths = []
    home = env.get("IIS_USER_HOME")
    if home:
        site = env.get("IISEXPRESS_SITENAME")
        if site:
            paths.append(os.path.join(home, "Logs", site, LOG_NAME))
        paths.append(os.path.join(home, "Logs", LOG_NAME))
    return paths


def _refuse(fd: int, reason: str) -> None:
    os.close(fd)
    raise OSError(errno.EPERM, reason)


def _open_fd(path: str) -> int:
    if os.name == "nt":
        from .iis import winapi
        return winapi.open_shared_append(path)
    flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT
             | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NOCTTY", 0)
             | getattr(os, "O_NONBLOCK", 0))
    return os.open(path, flags, 0o600)


def open_log_file(path: str, mode: int = 0o600) -> TextIO:
    """Open ``path`` for appending, creating it (owner-only) and its folder
    as needed.  Refused (OSError) when it is a link, not a regular file,
    hard-linked elsewhere, or (POSIX) owned by another user; an existing
    file's permissions are tightened to ``mode`` plus at most group read
    (0600 or 0640).  On Windows it is opened so that other processes may
    rename it (rotation)."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    fd = _open_fd(path)
    try:
        opened = os.fstat(fd)
        named = os.lstat(path)
    except OSError:
        os.close(fd)
        raise
    if stat.S_ISLNK(named.st_mode) or not os.path.samestat(opened, named):
        _refuse(fd, "it is a link; give the real file's path")
    if not stat.S_ISREG(opened.st_mode):
        _refuse(fd, "it is not a regular file")
    if os.name != "nt":
        if opened.st_nlink > 1:
            _refuse(fd, "it has %d hard links; give a file of its own"
                    % opened.st_nlink)
        if opened.st_uid != os.geteuid():
            _refuse(fd, "it belongs to another user (uid %d, not %d)"
                    % (opened.st_uid, os.geteuid()))
        allowed = (mode & 0o600) | (opened.st_mode & 0o040)
        if opened.st_mode & 0o777 & ~allowed:
            os.fchmod(fd, allowed)
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
    return os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace")


def _identity(st):
    return (st.st_dev, st.st_ino)


class LogFile(logging.Handler):
    """The log file, shared with the site's other processes: reopened when
    another process has rotated it (its identity changed) or removed it,
    rotated at ``max_bytes`` keeping ``backup_count`` old files (0 for
    either: never rotated).

    It outlives ``logging.config.dictConfig``, which closes every handler
    it finds (Django configures logging so at start): only
    :func:`configure` closes its file."""

    LOCK_STALE = 30.0           # seconds after which a rotation lock is dead
    LOCK_WAIT = 2.0             # seconds to wait for another's rotation

    def __init__(self, path: str, max_bytes: int = DEFAULT_MAX_BYTES,
                 backup_count: int = DEFAULT_BACKUP_COUNT) -> None:
        logging.Handler.__init__(self)
        self.path = os.path.abspath(path)
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self.stream: Optional[TextIO] = None
        self._id = None
        self._open()

    def _open(self) -> None:
        stream = open_log_file(self.path)
        old, self.stream = self.stream, stream
        self._id = _identity(os.fstat(stream.fileno()))
        if old is not None:
            old.close()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write_line(self.format(record))
        except Exception:
            self.handleError(record)

    def write_line(self, text: str) -> None:
        """Write one formatted line (a record, or one kept from before the
        file was open)."""
        with self.lock:
            self._follow()
            if self._due(len(text) + 1):
                self._rotate(len(text) + 1)
            if os.name == "nt":
                from .iis import winapi
                with winapi.append_lock(self.stream.fileno()):
                    self.stream.write(text + "\n")
                    self.stream.flush()
            else:
                # One write(2) per record with O_APPEND: it lands whole at
                # the end, even a traceback longer than a buffer, however
                # many processes append.
                data = (text + "\n").encode("utf-8", "backslashreplace")
                fd = self.stream.fileno()
                while data:
                    data = data[os.write(fd, data):]

    def _follow(self):
        # Another process rotated (or someone removed) the file: reopen.
        try:
            current = _identity(os.stat(self.path))
        except FileNotFoundError:
            current = None
        if current != self._id:
            try:
                self._open()
            except OSError:
                pass            # keep writing where we were

    def _due(self, adding):
        if self.max_bytes <= 0 or self.backup_count <= 0:
            return False
        size = os.fstat(self.stream.fileno()).st_size
        return size > 0 and size + adding > self.max_bytes

    def _rotate(self, adding):
        # One process renames, holding the lock folder; the others wait
        # for it (briefly), then follow the new file.
        lock = self.path + ".rotating"
        deadline = time.monotonic() + self.LOCK_WAIT
        while True:
            try:
                os.mkdir(lock)
                break
            except FileExistsError:
                try:
                    age = time.time() - os.stat(lock).st_mtime
                except OSError:
                    age = 0.0
                if age > self.LOCK_STALE:
                    try:
                        os.rmdir(lock)      # left by a process that died
                    except OSError:
                        pass
                    continue
                if time.monotonic() > deadline:
                    return
                time.sleep(0.002)
                self._follow()
                if not self._due(adding):
                    return
            except OSError:
                return
        try:
            try:
                named = os.stat(self.path)
            except FileNotFoundError:
                named = None
            if named is not None and _identity(named) == self._id and (
                    named.st_size + 1 > self.max_bytes):
                for number in range(self.backup_count - 1, 0, -1):
                    older = "%s.%d" % (self.path, number)
                    if os.path.exists(older):
                        os.replace(older, "%s.%d" % (self.path, number + 1))
                os.replace(self.path, self.path + ".1")
            self._open()
        except OSError as error:
            _warn_stderr("iiswsgi: cannot rotate the log file %s: %s"
                         % (self.path, error.strerror or error))
        finally:
            try:
                os.rmdir(lock)
            except OSError:
                pass

    def flush(self) -> None:
        if self.stream is not None and not self.stream.closed:
            self.stream.flush()

    def close(self) -> None:
        self.flush()
        logging.Handler.close(self)

    def close_file(self) -> None:
        self.close()
        if self.stream is not None:
            self.stream.close()


def _warn_stderr(text):
    stream = sys.__stderr__
    if stream is not None:
        try:
            stream.write(text + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass


class _Pending(logging.Handler):
    """The last lines logged before a log file opens, to write there
    first."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)
        self.lines = collections.deque(maxlen=BUFFERED_LINES)
        self.addFilter(_Once())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.handleError(record)


# Set while a thread handles a record of iiswsgi's: the log file has it
# already, so another handler (an application's console handler on the root
# logger) writing it to sys.stderr, the LogWriter, must not log it again.
_handling = threading.local()


class _SteadyLogger(logging.Logger):
    """iiswsgi's loggers: ``disabled`` stays False, whatever
    ``dictConfig(disable_existing_loggers=True)`` sets."""

    @property
    def disabled(self):
        return False

    @disabled.setter
    def disabled(self, value):
        pass

    def handle(self, record: logging.LogRecord) -> None:
        outer = getattr(_handling, "on", False)
        _handling.on = True
        try:
            logging.Logger.handle(self, record)
        finally:
            _handling.on = outer


class _Once(logging.Filter):
    """One handler attached to both the ``iiswsgi`` logger and the root
    logger writes a record once, not once per logger it propagates
    through."""

    def filter(self, record: logging.LogRecord) -> bool:
        seen = record.__dict__.setdefault("_iiswsgi_handlers", set())
        if id(self) in seen:
            return False
        seen.add(id(self))
        return True


def _ours(name):
    return name == _PACKAGE or name.startswith(_PACKAGE + ".")


class _LoggerFactory:
    """The logging manager's logger class once :func:`configure` ran:
    iiswsgi's loggers are :class:`_SteadyLogger`, every other one is of
    the class ``logging.setLoggerClass`` names, as before."""

    def __call__(self, name: str) -> logging.Logger:
        if _ours(name):
            return _SteadyLogger(name)
        return logging.getLoggerClass()(name)


def _steady_loggers():
    manager = logging.Logger.manager
    for name, logger in list(manager.loggerDict.items()):
        if _ours(name) and type(logger) is logging.Logger:
            logger.__class__ = _SteadyLogger
    if manager.loggerClass is None:
        manager.loggerClass = _LoggerFactory()


class _State:
    def __init__(self):
        self.file: Optional[LogFile] = None
        self.stderr: Optional[logging.Handler] = None
        self.pending = _Pending()
        self.problem: Optional[str] = None
        self.event_log: Optional[logging.Handler] = None


_state = _State()


def current_log_path() -> Optional[str]:
    """The log file being written, or None when none is open."""
    return _state.file.path if _state.file is not None else None


def log_problem() -> Optional[str]:
    """Why the configured log file could not be opened (the path and the
    reason), or None."""
    return _state.problem


def where_logged() -> str:
    """Where to find the log, in a sentence (for the 500 page and the
    start-up line)."""
    path = current_log_path()
    problem = _state.problem
    if path is not None and problem is None:
        return "The traceback is in the iiswsgi log, %s." % path
    if path is not None:
        return ("The traceback is in the iiswsgi log, %s (%s)."
                % (path, problem))
    if problem is not None:
        return ("No iiswsgi log file could be opened (%s): set WSGI_LOG in"
                " appSettings to a file the application pool can write."
                % problem)
    return ("No iiswsgi log file is configured: set WSGI_LOG in appSettings"
            " to a file the application pool can write.")


def _setting(env, name, default, source_word):
    from . import settings as table
    raw = None
    for key, value in env.items():
        if key.upper() == name:
            raw = value
    if raw is None or not str(raw).strip():
        return default
    opt = next(o for o in table.OPTIONS if o.env == name)
    try:
        return table.convert(opt, raw, table.ENVIRONMENT if source_word is None
                             else table.app_settings_source(source_word))
    except table.SettingsError as error:
        log.warning("ignoring %s", error)
        return default


def configure(log_file: Optional[str] = None, debug: bool = False,
              to_stderr: bool = False,
              environ: Optional[Mapping[str, str]] = None,
              max_bytes: Optional[int] = None,
              backup_count: Optional[int] = None,
              source: Optional[str] = None) -> Optional[str]:
    """Send iiswsgi's loggers, the application's output and the root
    logger to the log file: ``log_file``, else WSGI_LOG in ``environ`` (the
    environment by default), else the first writable default
    (:func:`candidates`).  ``max_bytes`` and ``backup_count`` default to
    WSGI_LOG_MAX_BYTES and WSGI_LOG_BACKUP_COUNT (``source``: the
    web.config they were read from, for errors).

    A file that cannot be opened changes nothing but :func:`log_problem`:
    the log already open stays, and the reason is logged.  Until a file
    opens, lines are kept in memory (and go to stderr when it is usable).
    Returns the path of the log file in use, or None."""
    env = os.environ if environ is None else environ
    if max_bytes is None:
        max_bytes = _setting(env, "WSGI_LOG_MAX_BYTES", DEFAULT_MAX_BYTES,
                             source)
    if backup_count is None:
        backup_count = _setting(env, "WSGI_LOG_BACKUP_COUNT",
                                DEFAULT_BACKUP_COUNT, source)
    configured = log_file or env.get("WSGI_LOG") or None
    paths = [configured] if configured else candidates(env)
    formatter = _LineFormatter(FORMAT)
    failures = []
    opened = None
    for path in paths:
        if (_state.file is not None
                and os.path.abspath(path) == _state.file.path):
            opened = _state.file
            opened.max_bytes, opened.backup_count = max_bytes, backup_count
            break
        try:
            opened = LogFile(path, max_bytes, backup_count)
        except OSError as error:
            failures.append("%s: %s" % (path, error.strerror or error))
            continue
        break
    gateway = logging.getLogger(_PACKAGE)
    root = logging.getLogger()
    targets = (gateway, root)
    if opened is not None and opened is not _state.file:
        opened.setFormatter(formatter)
        opened.addFilter(_Once())
        old, _state.file = _state.file, opened
        for line in _state.pending.lines:
            opened.write_line(line)
        _state.pending.lines.clear()
        for logger in targets:
            logger.addHandler(opened)
            if old is not None:
                logger.removeHandler(old)
        if old is not None:
            old.close_file()
    _state.problem = None
    if configured and opened is None:
        _state.problem = "cannot write %s" % "; ".join(failures)
    # Lines wait in memory, and go to stderr, until a file is open.
    # (At the first request sys.stderr is the application's LogWriter: the
    # handler made at start keeps the real one.)
    usable = sys.stderr is not None and not isinstance(sys.stderr, LogWriter)
    want_stderr = (usable or _state.stderr is not None) and (
        to_stderr or _state.file is None)
    if want_stderr and _state.stderr is None:
        _state.stderr = logging.StreamHandler(sys.stderr)
        _state.stderr.addFilter(_Once())
    elif not want_stderr and _state.stderr is not None:
        for logger in targets:
            logger.removeHandler(_state.stderr)
        _state.stderr = None
    for handler in (_state.stderr, _state.pending):
        if handler is None:
            continue
        handler.setFormatter(formatter)
        for logger in targets:
            if handler is _state.pending and _state.file is not None:
                logger.removeHandler(handler)
            else:
                logger.addHandler(handler)
    if os.name == "nt" and _state.event_log is None:
        _state.event_log = _EventLogHandler()
        logging.getLogger(_HOSTING).addHandler(_state.event_log)
    level = logging.DEBUG if debug else logging.INFO
    gateway.setLevel(level)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    _steady_loggers()
    if failures:
        where = (" still logging to %s" % _state.file.path
                 if _state.file is not None else
                 " no log file is open: the lines are kept in memory until"
                 " one is")
        log.warning("cannot write the log file %s;%s", "; ".join(failures),
                    where)
        if _state.file is None:
            report_to_event_log("iiswsgi cannot write its log file %s"
                                " (pid %d). Set WSGI_LOG in appSettings to a"
                                " file the application pool identity can"
                                " write." % ("; ".join(failures),
                                             os.getpid()))
    return current_log_path()


# -- the Windows Application event log ---------------------------------------------

EVENT_SOURCE = "iiswsgi"
_EVENTS_PER_PROCESS = 5


def report_to_event_log(message: str, error: bool = True) -> bool:
    """Write ``message`` to the Windows Application event log (source
    "iiswsgi"), where an administrator looks when IIS only says "The
    FastCGI process exited unexpectedly"; True if written.  Does nothing
    (False) elsewhere."""
    if os.name != "nt":
        return False
    try:
        from .iis import winapi
        return winapi.report_event(EVENT_SOURCE, redact(message), error)
    except (OSError, ImportError, AttributeError, ValueError):
        return False


class _EventLogHandler(logging.Handler):
    """The first errors of hosting (the application failed to load) also
    go to the event log."""

    def __init__(self) -> None:
        logging.Handler.__init__(self, logging.ERROR)
        self.sent = 0

    def emit(self, record: logging.LogRecord) -> None:
        if self.sent >= _EVENTS_PER_PROCESS:
            return
        self.sent += 1
        where = current_log_path()
        report_to_event_log("%s (pid %d; %s)" % (
            escape_controls(record.getMessage()), os.getpid(),
            "details in the log %s" % where if where else
            "no log file is open: set WSGI_LOG"))


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
        if getattr(self._busy, "on", False) or getattr(_handling, "on",
                                                       False):
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
