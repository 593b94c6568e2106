"""The gateway's options: one table, checked before anything starts.

Every option has a name, a type, a range, a default, one line of
documentation and the sources it may come from:

* an ini file's ``[server:NAME]`` section (``read_timeout = 30``), read by
  ``iiswsgi serve`` and ``paster serve``;
* the ``iiswsgi serve`` command line (``--port 9000``), for the options
  with a flag;
* the environment (``WSGI_READ_TIMEOUT=30``), for the options with an
  environment name, read by ``python -m iiswsgi`` at start;
* the ``<appSettings>`` of the site's web.config, under the same names,
  read by ``python -m iiswsgi`` at the first request.

A value that is not of the option's type, or out of its range, is a
:class:`SettingsError` naming the option, the value, where it came from
and what to do.  ``iiswsgi serve`` and ``paster serve`` refuse to start on
one; ``python -m iiswsgi`` logs it and keeps the option's default, as it
always has for the settings of a site (a site that cannot start shows IIS's
own error page, which names nothing).
"""

import math
import os
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from .errors import IISWSGIError
from .records import FrozenRecord

__all__ = ["COMMAND_LINE", "ENVIRONMENT", "KEYWORDS", "OPTIONS", "Option",
           "SettingsError", "Source", "app_settings_source", "convert",
           "FALSE_WORDS", "TRUE_WORDS", "convert_bool", "flags",
           "ini_source", "option", "parse", "parse_options", "regex_problem",
           "server_keywords", "site_settings"]

# The words a true/false setting (or a server variable such as HTTPS) is
# written with, in lower case.
TRUE_WORDS = frozenset(("1", "true", "yes", "on"))
FALSE_WORDS = frozenset(("0", "false", "no", "off", ""))


class SettingsError(IISWSGIError, ValueError):
    """An option's value is unknown, of the wrong type or out of range.
    The message names the option, the value, where it came from, and what
    to do; :attr:`option` and :attr:`source` say the same to a program."""

    def __init__(self, message: str, option: Optional[str] = None,
                 source: "Optional[Source]" = None) -> None:
        ValueError.__init__(self, message)
        self.option = option
        self.source = source


class Source(FrozenRecord):
    """Where values come from: ``kind`` is ``"ini"``, ``"command line"``,
    ``"environment"``, ``"appSettings"`` or ``"keywords"``; ``path`` the
    file (ini, web.config) and ``section`` the ini section."""

    __slots__ = ("kind", "path", "section")
    kind: str
    path: Optional[str]
    section: Optional[str]

    def __init__(self, kind: str, path: Optional[str] = None,
                 section: Optional[str] = None) -> None:
        self._set("kind", kind)
        self._set("path", path)
        self._set("section", section)

    def where(self) -> str:
        """``in [server:main] of app.ini``, ``on the command line``..."""
        if self.kind == "ini":
            section = ("[%s]" % self.section if self.section
                       else "the server section")
            return "in %s of %s" % (section, self.path or "the ini file")
        if self.kind == "command line":
            return "on the command line"
        if self.kind == "environment":
            return "in the environment"
        if self.kind == "appSettings":
            return "in appSettings of %s" % (self.path or "web.config")
        return "given to the server"

    def show(self, opt: "Option", raw: Any) -> str:
        """The option and its value as this source spells them."""
        if self.kind == "ini":
            return "%s = %s" % (opt.name, raw)
        if self.kind == "command line":
            return "%s %s" % (opt.flag, raw)
        if self.kind in ("environment", "appSettings"):
            return "%s=%r" % (opt.env, raw)
        return "%s=%r" % (opt.name, raw)


#: Options given as keyword arguments, in code.
KEYWORDS = Source("keywords")
COMMAND_LINE = Source("command line")
ENVIRONMENT = Source("environment")


def ini_source(path: Optional[str], section: Optional[str] = None) -> Source:
    """Values from the ``[section]`` of the ini file at ``path``."""
    return Source("ini", path, section)


def app_settings_source(path: Optional[str]) -> Source:
    """Values from the ``<appSettings>`` of the web.config at ``path``."""
    return Source("appSettings", path)


class _Invalid(Exception):
    """A value's problem, in words (the caller adds where it came from).

    Control flow inside this module only: :func:`convert` turns it into a
    :class:`SettingsError` naming the option and its source."""


# -- types -------------------------------------------------------------------

_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
               "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
               "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}


def _text(value: Any) -> str:
    return str(value)


def _size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    number = text.rstrip("kmgib")
    unit = text[len(number):]
    try:
        size = float(number) * _SIZE_UNITS[unit]
        if not math.isfinite(size):
            raise ValueError
        return int(size)
    except (KeyError, ValueError):
        raise _Invalid("%r is not a size (write it as 1048576, 1M or 1MiB)"
                       % value) from None


def convert_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise _Invalid("%r is not true or false (write true or false)" % value)


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise _Invalid("%r is not a whole number" % value) from None


def _seconds(value: Any) -> float:
    try:
        seconds = float(str(value).strip())
    except ValueError:
        raise _Invalid("%r is not a number of seconds (write it as 30 or 2.5)"
                       % value) from None
    if not math.isfinite(seconds):
        raise _Invalid("%r is not a number of seconds (write it as 30 or 2.5)"
                       % value)
    return seconds


def _octal(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip(), 8)
    except ValueError:
        raise _Invalid("%r is not an octal mode such as 007" % value) from None


def regex_problem(text: str) -> Optional[str]:
    """Why ``text`` is not a regular expression (Python's ``re``), or None
    when it is one."""
    try:
        re.compile(text)
    except re.error as error:
        return str(error)
    return None


def _regex(value: Any) -> str:
    text = str(value)
    problem = regex_problem(text)
    if problem:
        raise _Invalid("%r is not a regular expression (%s)"
                       % (text, problem))
    return text


def _folder(value: Any) -> str:
    text = str(value)
    if not os.path.isdir(text):
        raise _Invalid("there is no folder %s (create it, or give an"
                       " existing one)" % text)
    return text


def _nonempty(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise _Invalid("it is empty")
    return text


class Option(FrozenRecord):
    """One option of the table.

    ``convert`` turns a value as written into the option's type (raising
    ``_Invalid``); ``minimum``/``maximum`` bound numbers (``unit`` names
    them in errors); ``flag`` is its ``iiswsgi serve`` flag and ``env`` its
    environment / appSettings name, when it has them.  ``ini`` is False for
    the site settings that are not server options (WSGI_HANDLER and the
    like, read by :mod:`iiswsgi.hosting` itself): they are here so the
    table documents every setting the gateway reads.  ``default_doc`` is
    the default as the README shows it."""

    __slots__ = ("name", "convert", "default", "default_doc", "doc",
                 "minimum", "maximum", "unit", "flag", "env", "ini")
    name: str
    convert: Callable[[Any], Any]
    default: Any
    default_doc: str
    doc: str
    minimum: Optional[float]
    maximum: Optional[float]
    unit: str
    flag: Optional[str]
    env: Optional[str]
    ini: bool

    def __init__(self, name: str, convert: Callable[[Any], Any],
                 default: Any, default_doc: str, doc: str,
                 minimum: Optional[float] = None,
                 maximum: Optional[float] = None, unit: str = "",
                 flag: Optional[str] = None, env: Optional[str] = None,
                 ini: bool = True) -> None:
        for field, value in (
                ("name", name), ("convert", convert), ("default", default),
                ("default_doc", default_doc), ("doc", doc),
                ("minimum", minimum), ("maximum", maximum), ("unit", unit),
                ("flag", flag), ("env", env), ("ini", ini)):
            self._set(field, value)

    def check(self, raw: Any) -> Any:
        """``raw`` converted and range-checked; ``_Invalid`` if it is not
        acceptable."""
        value = self.convert(raw)
        if self.minimum is not None or self.maximum is not None:
            low, high = self.minimum, self.maximum
            if (low is not None and value < low) or (
                    high is not None and value > high):
                raise _Invalid("must be %s" % self.range_text())
        return value

    def range_text(self) -> str:
        """The range in words: ``0 or more seconds``."""
        unit = " " + self.unit if self.unit else ""
        low, high = self.minimum, self.maximum
        if self.convert is _octal:
            return "from %03o to %03o" % (low, high)
        if high is None:
            return "%s or more%s" % (_number(low), unit)
        if low is None:
            return "at most %s%s" % (_number(high), unit)
        return "from %s to %s%s" % (_number(low), _number(high), unit)

    def accepts(self) -> str:
        """The values it takes, in words (the README's column)."""
        kind = _KIND_WORDS.get(self.convert, "text")
        if self.minimum is None and self.maximum is None:
            return kind
        return "%s, %s" % (kind, self.range_text())

    def sources(self) -> List[str]:
        """Where it may come from, in words."""
        found = []
        if self.ini:
            found.append("ini")
        if self.flag:
            found.append(self.flag)
        if self.env:
            found.append(self.env)
        return found


def _number(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


_KIND_WORDS = {
    _size: "a size", convert_bool: "true or false", _int: "a whole number",
    _seconds: "a number", _octal: "an octal mode", _regex:
    "a regular expression", _folder: "an existing folder",
    _nonempty: "text, not empty",
}

_YEAR = 365 * 24 * 3600

#: Every option and site setting, in the README's order.
OPTIONS: Tuple[Option, ...] = (
    Option("host", _nonempty, None, "(standard input)",
           "listen on this TCP address (with `port`) instead of standard"
           " input", flag="--host"),
    Option("port", _int, None, "(standard input)",
           "listen on this TCP port instead of standard input",
           minimum=0, maximum=65535, flag="--port"),
    Option("socket", _nonempty, None, "",
           "listen on this Unix socket path", flag="--socket"),
    Option("umask", _octal, None, "",
           "octal umask while the socket file is created",
           minimum=0, maximum=0o777),
    Option("threads", _int, None, "16 (1 with `workers` above 1)",
           "requests served at once when listening (connections waiting"
           " between requests hold no thread); 1: one loop serves every"
           " connection", minimum=1, maximum=1024, unit="threads",
           flag="--threads"),
    Option("workers", _int, 1, "1",
           "processes sharing the listening socket (POSIX only; a dead one"
           " is replaced, SIGTERM stops them all); under IIS use the FastCGI"
           " application's `maxInstances`", minimum=1, maximum=256,
           unit="processes", flag="--workers"),
    Option("read_timeout", _seconds, 60.0, "60",
           "seconds the web server may stay silent in the middle of a record"
           " or a request before the connection is closed; on the IIS pipe"
           " the process then exits 0. Never applied between requests (IIS's"
           " `activityTimeout` covers those); 0: no limit", minimum=0.0, maximum=float(_YEAR),
           unit="seconds", env="WSGI_READ_TIMEOUT"),
    Option("spool_threshold", _size, 1 << 20, "`1M`",
           "request body bytes held in memory before the body spools to a"
           " temporary file (`1M`, `512K`, bytes)", minimum=0, unit="bytes"),
    Option("spool_body", convert_bool, True, "true",
           "past `spool_threshold` the body spools to a temporary file, so"
           " it can be read again; false: only the first `spool_threshold`"
           " bytes are kept, the rest is handed over as it is read (a seek"
           " back past them is an error)", env="WSGI_SPOOL_BODY"),
    Option("spool_dir", _folder, None, "the temporary directory",
           "where spooled bodies go"),
    Option("max_body", _size, None, "no limit",
           "larger request bodies are answered 413", minimum=0, unit="bytes"),
    Option("max_requests", _int, None, "no limit",
           "exit after serving this many requests (0: no limit)", minimum=0,
           unit="requests"),
    Option("restart_regex", _regex, None,
           "wfastcgi's when serving standard input; off when listening on an"
           " address",
           "exit between requests when a file under the app folder whose"
           " path matches this regular expression changes; empty: never",
           env="WSGI_RESTART_FILE_REGEX"),
    Option("watch_interval", _seconds, 1.0, "1",
           "seconds between two looks for changed files", minimum=0.01,
           maximum=3600.0, unit="seconds"),
    Option("app_dir", _folder, None,
           "the ini's folder, else `APPL_PHYSICAL_PATH`",
           "the folder watched for changes"),
    Option("script_name", _text, None, "from `APPL_MD_PATH`",
           "force the application's mount path (wfastcgi's `SCRIPT_NAME`)",
           env="SCRIPT_NAME"),
    Option("trust_original_url", convert_bool, False, "false",
           "route on `X-Original-URL` even when IIS does not say the URL was"
           " rewritten"),
    Option("log_file", _nonempty, None, "see *Logging*", "the log file",
           flag="--log-file", env="WSGI_LOG"),
    # The log's rotation: read by iiswsgi.logs.configure, from the
    # environment and the site's appSettings.
    Option("log_max_bytes", _size, 10 << 20, "`10M`",
           "the log file is rotated when it would grow past this size"
           " (`10M`, `512K`, bytes); 0: never rotated", minimum=0,
           unit="bytes", env="WSGI_LOG_MAX_BYTES", ini=False),
    Option("log_backup_count", _int, 5, "5",
           "rotated log files kept (`iiswsgi.log.1` is the newest); 0: never"
           " rotated", minimum=0, maximum=1000, unit="files",
           env="WSGI_LOG_BACKUP_COUNT", ini=False),
    Option("debug", convert_bool, False, "false",
           "tracebacks in 500 pages, debug logging", flag="--debug"),
    # Site settings that are not server options: python -m iiswsgi reads
    # them (iiswsgi.hosting).
    Option("handler", _text, None, "", "the application, as above",
           env="WSGI_HANDLER", ini=False),
    Option("python_path", _text, None, "",
           "`;`-separated folders appended to `sys.path`, `%VAR%` expanded",
           env="PYTHONPATH", ini=False),
    Option("debugger_secret", _text, None, "",
           "start a remote debugger listener", env="WSGI_PTVSD_SECRET",
           ini=False),
    Option("debugger_address", _text, "localhost:5678", "`localhost:5678`",
           "where the remote debugger listens", env="WSGI_PTVSD_ADDRESS",
           ini=False),
    Option("debugger_allow_remote", convert_bool, False, "false",
           "let the debugger listen on an address other than loopback (the"
           " secret is still needed)", env="WSGI_PTVSD_ALLOW_REMOTE",
           ini=False),
    Option("debug_pages", convert_bool, False, "false",
           "add the traceback (redacted) to the 500 page of an application"
           " that cannot be loaded: clients see it, so for development only",
           env="WSGI_DEBUG", ini=False),
    Option("telemetry_key", _text, None, "",
           "trace requests and errors to Application Insights",
           env="APPINSIGHTS_INSTRUMENTATIONKEY", ini=False),
)

_BY_NAME: Dict[str, Option] = {o.name: o for o in OPTIONS if o.ini}
_BY_ENV: Dict[str, Option] = {o.env: o for o in OPTIONS if o.env}


def option(name: str) -> Option:
    """The server option called ``name``; KeyError if there is none."""
    return _BY_NAME[name]


def _error(opt: Option, raw: Any, source: Source, problem: str
           ) -> SettingsError:
    if opt.default is None:
        fallback = "remove it for the default (%s)" % (
            opt.default_doc.strip("`") or "none")
    else:
        fallback = "remove it for the default (%s)" % _number(opt.default)
    return SettingsError("%s %s: %s; correct it, or %s" % (
        source.show(opt, raw), source.where(), problem, fallback),
        opt.name, source)


def convert(opt: Option, raw: Any, source: Source) -> Any:
    """``raw`` as ``opt``'s type, range-checked; SettingsError naming the
    option, the value and ``source`` when it is not acceptable."""
    try:
        return opt.check(raw)
    except _Invalid as invalid:
        raise _error(opt, raw, source, str(invalid)) from None


def parse(options: Mapping[str, Any], source: Source) -> Dict[str, Any]:
    """Server options by name (as in an ini file) to their values, every
    one checked; SettingsError for an unknown or bad one."""
    values = {}
    for name, raw in options.items():
        opt = _BY_NAME.get(name)
        if opt is None:
            raise SettingsError(
                "unknown iiswsgi server option %r %s; the options are: %s"
                % (name, source.where(), ", ".join(sorted(_BY_NAME))),
                name, source)
        values[name] = convert(opt, raw, source)
    return values


def server_keywords(values: Mapping[str, Any], source: Source = KEYWORDS
                    ) -> Dict[str, Any]:
    """Checked option values to the keyword arguments of
    :func:`iiswsgi.gateway.paste.serve`: ``host``/``port``/``socket``
    become ``bindAddress``."""
    parsed = dict(values)
    host = parsed.pop("host", None)
    port = parsed.pop("port", None)
    path = parsed.pop("socket", None)
    where = source.where()
    if path is not None and (host is not None or port is not None):
        raise SettingsError("socket and host or port are both given %s:"
                            " give either socket or host and port, not both"
                            % where, "socket", source)
    if path is not None:
        parsed["bindAddress"] = path
    elif port is not None:
        parsed["bindAddress"] = (host or "127.0.0.1", port)
    elif host is not None:
        raise SettingsError("host = %s %s: option host needs a port; add"
                            " port, or remove host" % (host, where),
                            "host", source)
    return parsed


def parse_options(options: Mapping[str, Any], source: Source = KEYWORDS
                  ) -> Dict[str, Any]:
    """Server options as written in an ini file to keyword arguments for
    :func:`iiswsgi.gateway.paste.serve`; SettingsError names a bad or
    unknown option."""
    return server_keywords(parse(options, source), source)


def site_settings(settings: Mapping[str, str], source: Source
                  ) -> Tuple[Dict[str, Any], List[SettingsError]]:
    """The server options found under their environment names
    (WSGI_READ_TIMEOUT, ...) in ``settings`` (the environment, or a
    web.config's appSettings, names matched in any case): ``(values by
    option name, errors)``.  An empty value for an option whose empty value
    means nothing (WSGI_READ_TIMEOUT=) is not set; a bad one is left out of
    the values and reported in the errors, for the caller to log."""
    upper = {key.upper(): value for key, value in settings.items()}
    values: Dict[str, Any] = {}
    errors: List[SettingsError] = []
    for opt in OPTIONS:
        if not opt.ini or not opt.env or opt.env not in upper:
            continue
        raw = upper[opt.env]
        if not str(raw).strip() and opt.convert is not _regex:
            continue
        try:
            values[opt.name] = convert(opt, raw, source)
        except SettingsError as error:
            errors.append(error)
    return values, errors


def flags() -> Iterable[Option]:
    """The options ``iiswsgi serve`` takes on its command line."""
    return [o for o in OPTIONS if o.flag]
