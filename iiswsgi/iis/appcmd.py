"""Run IIS's appcmd.exe and parse what it prints.

appcmd is found (an explicit command, else ``%IIS_BIN%\\appcmd.exe``, else
``%WINDIR%\\System32\\inetsrv\\appcmd.exe``), run without a shell, and read
through its ``/xml`` output.  The FastCGI applications IIS knows live in
applicationHost.config's ``system.webServer/fastCgi`` section, a collection
keyed on fullPath plus arguments; a site's handler names one of them with
``scriptProcessor="fullPath|arguments"``.
"""

import logging
import os
import re
import shlex
import struct
import subprocess
from typing import (Any, Dict, List, Mapping, Optional, Sequence, Tuple,
                    Union)

from .. import safexml
from ..errors import IISWSGIError
from .apphost import Application, Site, VirtualDirectory, read_sites
from .webconfig import (application_key, find_application,
                        read_environment_variables)

__all__ = [
    "Appcmd", "AppcmdError", "AppcmdNotFound", "Application", "Site",
    "VirtualDirectory", "add_fastcgi_application",
    "add_fastcgi_application_commands",
    "add_fastcgi_environment_variable", "bracket_expression",
    "as_appcmd", "candidates", "find_appcmd",
    "find_fastcgi_application", "list_fastcgi_applications", "list_sites",
    "parse_error_message", "parse_objects", "parse_section",
    "remove_fastcgi_application", "remove_fastcgi_environment_variable",
    "same_key",
]

log = logging.getLogger("iiswsgi.iis.appcmd")

FASTCGI_SECTION = "system.webServer/fastCgi"
SITES_SECTION = "system.applicationHost/sites"

_ERROR = re.compile(r"ERROR\s*\((.*)\)\s*$", re.DOTALL)
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]*\Z")

#: appcmd's path, or a list of its path and the arguments for every call.
Command = Union[str, "os.PathLike[str]",
                Sequence[Union[str, "os.PathLike[str]"]]]
#: What the functions below take as ``appcmd``: an Appcmd, or a Command
#: (None: found as find_appcmd finds it).
AppcmdLike = Union["Appcmd", Command, None]
Environ = Optional[Mapping[str, str]]
_DENIED = ("access is denied", "insufficient permissions", "80070005")


class AppcmdError(IISWSGIError):
    """appcmd could not be run, or said it failed.

    ``command`` is the command line, ``returncode`` its exit status (None
    when it did not run), ``message`` what appcmd said (the text of its
    ``ERROR ( message:... )``), ``output`` all it printed."""

    def __init__(self, message: str, command: Optional[str] = None,
                 returncode: Optional[int] = None, output: str = "") -> None:
        Exception.__init__(self, message)
        self.message = message
        self.command = command
        self.returncode = returncode
        self.output = output

    def __str__(self) -> str:
        if self.command is None:
            return self.message
        status = ("" if self.returncode is None
                  else " (exit status %s)" % self.returncode)
        return "%s%s: %s" % (self.command, status, self.message)

    @property
    def access_denied(self) -> bool:
        """True when appcmd failed for want of administrator rights."""
        text = ("%s %s" % (self.message, self.output)).lower()
        return self.returncode == 5 or any(word in text for word in _DENIED)

    @property
    def duplicate(self) -> bool:
        """True when an add failed because the entry is already there."""
        return "cannot add duplicate collection entry" in self.message.lower()

    @property
    def not_found(self) -> bool:
        """True when a remove failed because there was no such entry."""
        return "cannot find requested collection element" in (
            self.message.lower())


class AppcmdNotFound(AppcmdError):
    """No appcmd.exe where it was looked for."""


# -- finding appcmd ---------------------------------------------------------

def _is_wow64(environ):
    # A 32-bit process on 64-bit Windows sees SysWOW64 as System32, and
    # SysWOW64 has no appcmd; Windows then sets PROCESSOR_ARCHITEW6432.
    return struct.calcsize("P") == 4 and bool(
        environ.get("PROCESSOR_ARCHITEW6432"))


def candidates(environ: Environ = None,
               wow64: Optional[bool] = None) -> List[str]:
    """Where appcmd.exe is looked for, in order."""
    env = os.environ if environ is None else environ
    paths = []
    iis_bin = env.get("IIS_BIN")
    if iis_bin:
        paths.append(os.path.join(iis_bin, "appcmd.exe"))
    windir = env.get("WINDIR") or env.get("SystemRoot") or env.get(
        "SYSTEMROOT") or ("C:\\Windows" if os.name == "nt" else None)
    if windir:
        if _is_wow64(env) if wow64 is None else wow64:
            paths.append(os.path.join(windir, "Sysnative", "inetsrv",
                                      "appcmd.exe"))
        paths.append(os.path.join(windir, "System32", "inetsrv",
                                  "appcmd.exe"))
    return paths


def find_appcmd(command: Optional[Command] = None, environ: Environ = None,
                wow64: Optional[bool] = None) -> List[str]:
    """The appcmd command line prefix, as a list of arguments.

    ``command`` is a path, or a list whose first item is appcmd's path and
    whose rest are arguments for every call (IIS Express:
    ``["C:\\Program Files\\IIS Express\\appcmd.exe",
    "/apphostconfig:C:\\site\\applicationhost.config"]``).  Without one, the
    first existing :func:`candidates` path.  AppcmdNotFound says where it
    looked."""
    if command:
        argv = [command] if isinstance(command, (str, os.PathLike)) else (
            list(command))
        argv = [os.fspath(arg) for arg in argv]
        if not os.path.isfile(argv[0]):
            raise AppcmdNotFound(
                "appcmd not found: %s is not a file. Give the full path of"
                " appcmd.exe (IIS: %%WINDIR%%\\System32\\inetsrv\\appcmd.exe;"
                " IIS Express: %%ProgramFiles%%\\IIS Express\\appcmd.exe)."
                % argv[0])
        return argv
    looked = candidates(environ, wow64)
    for path in looked:
        if os.path.isfile(path):
            return [path]
    if looked:
        where = "looked for " + ", ".join(looked)
    else:
        where = "IIS_BIN and WINDIR are not set, so there is nowhere to look"
    raise AppcmdNotFound(
        "appcmd.exe not found (%s). Install IIS (Windows feature"
        " \"Internet Information Services\" with \"CGI\"), or give the path"
        " of appcmd.exe (for IIS Express, %%ProgramFiles%%\\IIS"
        " Express\\appcmd.exe)." % where)


# -- running it -------------------------------------------------------------

def _command_line(argv):
    return subprocess.list2cmdline(argv) if os.name == "nt" else (
        shlex.join(argv))


def _decode(data):
    # appcmd's /xml output is UTF-8.  Its plain text is in the console's
    # code page when it writes to a pipe; the locale's encoding is the
    # closest guess that needs no Windows call, and nothing is lost to it.
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        import locale
        return data.decode(locale.getpreferredencoding(False) or "latin-1",
                           errors="replace")


def parse_error_message(output: str) -> Optional[str]:
    """What appcmd said in ``ERROR ( message:... )`` (or ``hresult:...,
    message:...``); None when ``output`` holds no such error."""
    text = output.strip()
    start = text.find("ERROR (")
    if start < 0:
        return None
    match = _ERROR.match(text[start:])
    body = match.group(1).strip() if match else text[start + 7:].strip()
    found = body.find("message:")
    if found >= 0:
        body = body[found + len("message:"):]
    return " ".join(body.split()) or "(no message)"


class Appcmd:
    """One appcmd command line (found as :func:`find_appcmd` says), run
    once per call."""

    def __init__(self, command: Optional[Command] = None,
                 environ: Environ = None, timeout: float = 120) -> None:
        self.argv = find_appcmd(command, environ)
        self.timeout = timeout

    def __repr__(self) -> str:
        return "Appcmd(%r)" % (self.argv,)

    def run(self, *args: object) -> str:
        """appcmd's output for ``args``; AppcmdError when it fails."""
        argv = self.argv + [str(arg) for arg in args]
        line = _command_line(argv)
        log.debug("running %s", line)
        try:
            result = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise AppcmdError("no answer after %d seconds" % self.timeout,
                              line) from None
        except OSError as error:
            raise AppcmdError("could not run it: %s" % (
                error.strerror or error), line) from None
        output = _decode(result.stdout)
        errors = _decode(result.stderr)
        message = parse_error_message(output) or parse_error_message(errors)
        if result.returncode != 0 or message is not None:
            if message is None:
                message = " ".join((errors or output).split()) or (
                    "it failed and printed nothing")
            raise AppcmdError(message, line, result.returncode,
                              (output + errors).strip())
        return output

    def list_objects(self, kind: str, *args: str
                     ) -> List[Tuple[str, Dict[str, str]]]:
        """The objects ``appcmd list KIND ARGS /xml`` prints (``sites``,
        ``apps``, ``vdirs``, ...), as (TYPE, attributes) pairs."""
        output = self.run("list", kind, *(args + ("/xml",)))
        return parse_objects(output, "appcmd list %s" % kind)

    def list_config(self, section: str) -> safexml.Element:
        """The ``section`` element that ``appcmd list config /xml``
        prints."""
        output = self.run("list", "config", "/section:" + section, "/xml")
        return parse_section(output, section)


def as_appcmd(appcmd: AppcmdLike) -> Appcmd:
    """``appcmd`` itself when it is an Appcmd, else the Appcmd of that
    command (None: found as find_appcmd finds it)."""
    return appcmd if isinstance(appcmd, Appcmd) else Appcmd(appcmd)


# -- parsing ----------------------------------------------------------------

def parse_objects(output: str, source: str = "appcmd's output"
                  ) -> List[Tuple[str, Dict[str, str]]]:
    """The rows of appcmd ``/xml`` output
    (``<appcmd><SITE .../><APP .../></appcmd>``) as (TYPE, attributes)."""
    root = safexml.parse(output, source)
    if root.tag != "appcmd":
        raise AppcmdError("%s: expected <appcmd>, found <%s>"
                          % (source, root.tag))
    return [(row.tag, dict(row.attrib)) for row in root]


def parse_section(output: str, section: str) -> safexml.Element:
    """The element of configuration section ``section`` (such as
    ``system.webServer/fastCgi``) in what ``appcmd list config`` printed:
    either its /xml form (``<appcmd><CONFIG CONFIG.SECTION=...>
    <system.webServer-fastCgi>``) or the section's plain XML."""
    root = safexml.parse(output, "appcmd list config /section:" + section)
    names = section.strip("/").split("/")
    wanted = "-".join(names).lower()
    last = names[-1].lower()
    for element in root.iter():
        if element.tag.lower() == wanted:
            return element
    for element in root.iter():
        if element.tag.lower() == last:
            return element
    raise AppcmdError("appcmd printed no %s section: %s"
                      % (section, " ".join(output.split())[:300]))


# -- the fastCgi collection ------------------------------------------------

def same_key(entry: Mapping[str, Any], full_path: str,
             arguments: str) -> bool:
    """True when ``entry`` (a dict from :func:`list_fastcgi_applications`)
    has this fullPath and arguments, compared as IIS does: in any case."""
    return application_key(entry.get("fullPath", ""), entry.get(
        "arguments", "")) == application_key(full_path, arguments)


def find_fastcgi_application(entries: Sequence[Dict[str, Any]],
                             full_path: str, arguments: str
                             ) -> Optional[Dict[str, Any]]:
    """The entry of ``entries`` keyed on ``full_path`` and ``arguments``,
    or None."""
    return find_application(entries, full_path, arguments)


def _format_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def bracket_expression(**attributes: object) -> str:
    """``[name='value',...]``, as appcmd takes to select or add a
    collection entry.  A value holding a single quote cannot be written
    in it: ValueError."""
    items = []
    for name, value in attributes.items():
        if not _ATTRIBUTE_NAME.match(name):
            raise ValueError("%r is not an attribute name" % name)
        text = _format_value(value)
        if "'" in text:
            raise ValueError(
                "%s=%r: appcmd cannot be given a value with a single quote"
                " (') in it. Use a path without one (for example a folder"
                " or a junction named without it)." % (name, text))
        items.append("%s='%s'" % (name, text))
    return "[" + ",".join(items) + "]"


def list_fastcgi_applications(appcmd: AppcmdLike = None
                              ) -> List[Dict[str, Any]]:
    """The registered FastCGI applications, in order: a dict of each one's
    attributes (fullPath and arguments always present), with its
    ``environmentVariables`` as a dict of name to value."""
    section = as_appcmd(appcmd).list_config(FASTCGI_SECTION)
    entries = []
    for element in section:
        if element.tag != "application":
            continue
        entry = {"fullPath": "", "arguments": ""}
        entry.update(element.attrib)
        entry["environmentVariables"] = read_environment_variables(
            element, "appcmd list config /section:" + FASTCGI_SECTION)
        entries.append(entry)
    return entries


def add_fastcgi_application_commands(
        full_path: str, arguments: str = "", *,
        environment_variables: Optional[Mapping[str, str]] = None,
        **attributes: object) -> List[List[str]]:
    """The appcmd argument lists that register a FastCGI application (see
    :func:`add_fastcgi_application`): the entry, then one for each of its
    environment variables.  ValueError for a value appcmd cannot be
    given."""
    entry = bracket_expression(**dict(
        fullPath=full_path, arguments=arguments or "", **attributes))
    commands = [_set_config("/+" + entry)]
    for name, value in (environment_variables or {}).items():
        commands.append(_environment_variable_command(
            full_path, arguments, name, value))
    return commands


def add_fastcgi_application(full_path: str, arguments: str = "", *,
                            appcmd: AppcmdLike = None,
                            environment_variables: Optional[
                                Mapping[str, str]] = None,
                            **attributes: object) -> None:
    """Register a FastCGI application in applicationHost.config: keyword
    arguments are its other attributes (``signalBeforeTerminateSeconds=30``),
    ``environment_variables`` a dict for its environmentVariables.  appcmd's
    error for an entry already there is an AppcmdError whose ``duplicate``
    is true."""
    command = as_appcmd(appcmd)
    entry, *variables = add_fastcgi_application_commands(
        full_path, arguments, environment_variables=environment_variables,
        **attributes)
    command.run(*entry)
    log.info("registered the FastCGI application %s|%s", full_path,
             arguments)
    for words in variables:
        command.run(*words)


def _set_config(change: str) -> List[str]:
    return ["set", "config", "/section:" + FASTCGI_SECTION, change,
            "/commit:apphost"]


def _variable_expression(full_path, arguments, **variable):
    return (bracket_expression(fullPath=full_path, arguments=arguments or "")
            + ".environmentVariables." + bracket_expression(**variable))


def _environment_variable_command(full_path: str, arguments: str, name: str,
                                  value: str) -> List[str]:
    return _set_config("/+" + _variable_expression(
        full_path, arguments, name=name, value=value))


def add_fastcgi_environment_variable(full_path: str, arguments: str,
                                     name: str, value: str, *,
                                     appcmd: AppcmdLike = None) -> None:
    """Add an environment variable to the registered FastCGI application
    keyed on ``full_path`` and ``arguments``; an AppcmdError whose
    ``duplicate`` is true when it has one of that name."""
    as_appcmd(appcmd).run(*_environment_variable_command(
        full_path, arguments, name, value))


def remove_fastcgi_environment_variable(full_path: str, arguments: str,
                                        name: str, *,
                                        appcmd: AppcmdLike = None) -> None:
    """Remove an environment variable of a registered FastCGI
    application."""
    expression = _variable_expression(full_path, arguments, name=name)
    as_appcmd(appcmd).run(*_set_config("/-" + expression))


def remove_fastcgi_application(full_path: str, arguments: str = "", *,
                               appcmd: AppcmdLike = None) -> None:
    """Remove the FastCGI application keyed on ``full_path`` and
    ``arguments``.  appcmd's error for one not there is an AppcmdError whose
    ``not_found`` is true."""
    entry = bracket_expression(fullPath=full_path, arguments=arguments or "")
    as_appcmd(appcmd).run(*_set_config("/-" + entry))
    log.info("removed the FastCGI application %s|%s", full_path, arguments)


# -- sites ------------------------------------------------------------------

def list_sites(appcmd: AppcmdLike = None,
               environ: Environ = None) -> List[Site]:
    """The sites of applicationHost.config, each with its applications and
    their virtual directories, from ``appcmd list config
    /section:system.applicationHost/sites /xml``.  Physical paths are given
    as configured and with ``%VARIABLES%`` expanded from ``environ``."""
    return read_sites(as_appcmd(appcmd).list_config(SITES_SECTION), environ)
