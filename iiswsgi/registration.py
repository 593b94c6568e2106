"""Register this Python with IIS as a FastCGI application, and undo it.

IIS runs a FastCGI application only when it is registered in
applicationHost.config (the ``system.webServer/fastCgi`` section) and a
site's handler names it with ``scriptProcessor="fullPath|arguments"``,
character for character.  :func:`enable` registers ``sys.executable`` with
the arguments ``-m iiswsgi``; :func:`disable` removes it.  Both are
idempotent.
"""

import logging
import ntpath
import os
import sys
from dataclasses import dataclass, field
from typing import Mapping, Optional, Union
from xml.sax.saxutils import escape, quoteattr

from .iis import appcmd as appcmd_module
from .iis import webconfig
from .iis.cmdline import quote_path
from .redaction import Redactor, redact_value, secret_values

__all__ = ["ARGUMENTS", "Registration", "disable", "enable",
           "handler_snippet", "script_processor",
           "venv_redirector"]

log = logging.getLogger("iiswsgi.registration")

ARGUMENTS = "-m iiswsgi"
HANDLER_NAME = "Python FastCGI"
DEFAULT_ATTRIBUTES = {"signalBeforeTerminateSeconds": "30"}


@dataclass
class Registration:
    """What enable or disable found and did."""
    full_path: str
    arguments: str
    changed: bool                 # False: it was already as asked
    entry: dict = field(default_factory=dict)  # the registered attributes
    added: bool = False           # True: enable made a new entry

    @property
    def script_processor(self) -> str:
        return script_processor(self.full_path, self.arguments)


def script_processor(full_path: str,
                     arguments: Optional[str] = ARGUMENTS) -> str:
    """The handler's scriptProcessor for a FastCGI application (by default
    one with iiswsgi's arguments)."""
    return webconfig.script_processor(full_path, arguments)


def handler_snippet(processor: str,
                    wsgi_handler: str = "myproject.wsgi.application") -> str:
    """A web.config that sends every request of a site to ``processor``."""
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<configuration>",
        "  <system.webServer>",
        "    <handlers>",
        "      <add name=%s path=\"*\" verb=\"*\" modules=\"FastCgiModule\""
        % quoteattr(HANDLER_NAME),
        "           scriptProcessor=%s" % quoteattr(
            processor, {'"': "&quot;"}),
        '           resourceType="Unspecified" requireAccess="Script"',
        '           responseBufferLimit="0" />',
        "    </handlers>",
        "  </system.webServer>",
        "  <appSettings>",
        '    <add key="WSGI_HANDLER" value="%s" />' % escape(
            wsgi_handler, {'"': "&quot;"}),
        "  </appSettings>",
        "</configuration>",
    ])


def _registered(command, full_path, arguments):
    entries = appcmd_module.list_fastcgi_applications(command)
    return appcmd_module.find_fastcgi_application(entries, full_path,
                                                  arguments)


def enable(appcmd: "Union[appcmd_module.Appcmd, str, None]" = None,
           python: Optional[str] = None, arguments: str = ARGUMENTS,
           environment: Optional[Mapping[str, str]] = None,
           **attributes: str) -> Registration:
    """Register ``python`` (sys.executable) with ``arguments`` as a FastCGI
    application, unless it is already registered.  ``environment`` is a
    dict of environment variables IIS gives its processes (set on an
    existing registration too); ``attributes`` are more attributes of a new
    entry (signalBeforeTerminateSeconds is 30 unless given).  Raises
    AppcmdError, or ValueError for a value appcmd cannot be given."""
    if python and not os.path.isfile(python.strip('"')):
        raise ValueError("%s: no such interpreter; give the full path of an"
                         " existing python.exe" % python)
    full_path = quote_path(python or sys.executable)
    attributes = dict(DEFAULT_ATTRIBUTES, **attributes)
    environment = dict(environment or {})
    # Refuse what appcmd cannot be given before running anything.
    appcmd_module.bracket_expression(fullPath=full_path, arguments=arguments,
                                     **attributes)
    for name, value in environment.items():
        appcmd_module.bracket_expression(name=name, value=value)
    command = appcmd_module.as_appcmd(appcmd)
    try:
        return _enable(command, full_path, arguments, environment,
                       attributes)
    except appcmd_module.AppcmdError as error:
        # Its command line holds the values given: hide the secret ones.
        hide = Redactor([secret for name, value in environment.items()
                         for secret in secret_values(value, name)])
        error.command = (None if error.command is None
                         else hide.redact(error.command))
        error.message = hide.redact(error.message)
        error.output = hide.redact(error.output)
        error.args = (error.message,)
        raise


def _enable(command, full_path, arguments, environment, attributes):
    existing = _registered(command, full_path, arguments)
    if existing is None:
        try:
            appcmd_module.add_fastcgi_application(
                full_path, arguments, appcmd=command,
                environment_variables=environment, **attributes)
        except appcmd_module.AppcmdError as error:
            if not error.duplicate:
                raise
            log.info("appcmd says %s|%s is already registered", full_path,
                     arguments)
            existing = _registered(command, full_path, arguments) or {}
        else:
            entry = dict(attributes, fullPath=full_path, arguments=arguments,
                         environmentVariables=environment)
            return Registration(full_path, arguments, True, entry, True)
    changed = _set_environment(command, existing, environment)
    if changed:
        existing = _registered(command, full_path, arguments) or existing
    return Registration(full_path, arguments, changed, existing)


def _set_environment(command, entry, environment):
    """Give the registered ``entry`` the ``environment`` variables; True
    when any changed."""
    if not entry or not environment:
        return False
    full_path, arguments = entry["fullPath"], entry["arguments"]
    current = {name.casefold(): (name, value) for name, value in
               entry.get("environmentVariables", {}).items()}
    changed = False
    for name, value in environment.items():
        found = current.get(name.casefold())
        if found is not None and found[1] == value:
            continue
        if found is not None:
            appcmd_module.remove_fastcgi_environment_variable(
                full_path, arguments, found[0], appcmd=command)
        appcmd_module.add_fastcgi_environment_variable(
            full_path, arguments, name, value, appcmd=command)
        log.info("set %s=%s for %s|%s", name, redact_value(name, value),
                 full_path, arguments)
        changed = True
    return changed


def disable(appcmd: "Union[appcmd_module.Appcmd, str, None]" = None,
            python: Optional[str] = None,
            arguments: str = ARGUMENTS) -> Registration:
    """Remove the FastCGI application ``python`` (sys.executable) with
    ``arguments``, if it is registered.  Raises AppcmdError."""
    full_path = quote_path(python or sys.executable)
    appcmd_module.bracket_expression(fullPath=full_path, arguments=arguments)
    command = appcmd_module.as_appcmd(appcmd)
    existing = _registered(command, full_path, arguments)
    if existing is None:
        return Registration(full_path, arguments, False)
    try:
        # The entry as registered: its case may differ from ours.
        appcmd_module.remove_fastcgi_application(
            existing["fullPath"], existing["arguments"], appcmd=command)
    except appcmd_module.AppcmdError as error:
        if not error.not_found:
            raise
        return Registration(full_path, arguments, False)
    return Registration(full_path, arguments, True, existing)


def _pyvenv_settings(path):
    settings = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                key, sep, value = line.partition("=")
                if sep:
                    settings[key.strip().lower()] = value.strip()
    except OSError:
        pass
    return settings


def _version(text):
    numbers = []
    for part in text.split(".")[:3]:
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers)


@dataclass
class VenvRedirector:
    """A virtual environment's python.exe that starts another one."""
    python: str                   # the redirector
    pyvenv_cfg: str
    home: str                     # the base installation's folder
    base: str                     # the base interpreter (may not exist)
    site_packages: str            # the environment's packages


def venv_redirector(python: str) -> Optional[VenvRedirector]:
    """A VenvRedirector when ``python`` is the python.exe of a virtual
    environment made by Python 3.7.2 or later on Windows: a small launcher
    that starts the base interpreter as a second process.  None for an
    interpreter that is not one (a base installation; a symbolic link,
    as virtual environments have elsewhere)."""
    path = python.strip().strip('"')
    if os.path.islink(path) or not (
            os.name == "nt" or path.lower().endswith(".exe")):
        return None
    folder = os.path.dirname(os.path.abspath(path))
    for candidate in (folder, os.path.dirname(folder)):
        cfg = os.path.join(candidate, "pyvenv.cfg")
        if not os.path.isfile(cfg):
            continue
        settings = _pyvenv_settings(cfg)
        version = _version(settings.get("version", "")
                           or settings.get("version_info", ""))
        if version and version < (3, 7, 2):
            return None           # before 3.7.2, python.exe was a copy
        home = settings.get("home", "")
        # home is a Windows path; keep its separators wherever this runs.
        join = ntpath.join if "\\" in home else os.path.join
        base = join(home, os.path.basename(path)) if home else ""
        return VenvRedirector(path, cfg, home, base, os.path.join(
            candidate, "Lib", "site-packages"))
    return None
