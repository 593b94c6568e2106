"""Check a site's IIS set-up for what keeps a Python application from
running: ``iiswsgi doctor APPDIR``.

Each check gives a :class:`Finding`: OK, WARNING (works, but read this),
PROBLEM (will not work as it is; each comes with a fix) or SKIPPED (could
not be checked here).  :func:`diagnose` runs them all.
"""

import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from . import logs
from .redaction import redact_text
from .iis import appcmd as appcmd_module
from .iis.cmdline import quote_path
from .iis.webconfig import (ConfigError, Handler, application_name,
                            find_web_config, read_web_config)
from .registration import (ARGUMENTS, handler_snippet, script_processor,
                           venv_redirector)

__all__ = ["Finding", "OK", "PROBLEM", "SKIPPED", "WARNING", "diagnose",
           "log_file_problem", "site_configuration"]

log = logging.getLogger("iiswsgi.doctor")

OK, WARNING, PROBLEM, SKIPPED = "OK", "WARNING", "PROBLEM", "SKIPPED"

IMPORT_TIMEOUT = 120

# Run with the site's interpreter: load the application as the gateway
# would on its first request, without starting the debugger listener
# (WSGI_PTVSD_SECRET) or telemetry (APPINSIGHTS_INSTRUMENTATIONKEY) that
# web.config may ask the running site for.  An iiswsgi older than
# HostedApplication.load's debugger/telemetry switches is patched instead.
_LOAD = """\
import inspect, sys
import iiswsgi.hosting as hosting
application = hosting.HostedApplication()
environ = {"APPL_PHYSICAL_PATH": sys.argv[1]}
if "telemetry" in inspect.signature(application.load).parameters:
    application.load(environ, debugger=False, telemetry=False)
else:
    hosting.start_debugger = lambda *args: False
    hosting.add_telemetry = lambda application, key: application
    application.load(environ)
"""


@dataclass
class Finding:
    status: str
    message: str
    fix: str = ""
    detail: str = ""              # more text to show as it is (a traceback)


def site_configuration(path: str) -> Tuple[Dict[str, str], List[Handler]]:
    """(appSettings, FastCGI handlers) of the site whose web.config is at
    ``path``, as IIS and the gateway read them: the file's own sections
    and its ``<location path="">``, not those of other paths."""
    config = read_web_config(path)
    return config.app_settings, config.fastcgi_handlers


def log_file_problem(path: str) -> Optional[str]:
    """Why the log cannot be written at ``path``, or None when it can (it is
    created if missing, as the gateway would; nothing is left behind when
    it is not there yet)."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return "it is a folder"
    if os.path.exists(path):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        except OSError as error:
            return error.strerror or str(error)
        return None
    folder = os.path.dirname(path)
    while not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if not os.path.isdir(folder):
        return "%s is a file, not a folder" % folder
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return "cannot create files in %s: %s" % (
            folder, error.strerror or error)
    return None


def _runnable(python):
    """True when ``python`` starts here (it may be a Windows interpreter
    seen from elsewhere)."""
    try:
        result = subprocess.run([python, "-c", "pass"],
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _key(entry, **attributes):
    try:
        return appcmd_module.bracket_expression(
            fullPath=entry["fullPath"], arguments=entry["arguments"],
            **attributes)
    except ValueError:            # a single quote: appcmd cannot say it
        return "[fullPath=...,arguments=...]"


def _appcmd_line(operation):
    return ("%%windir%%\\system32\\inetsrv\\appcmd set config"
            ' /section:system.webServer/fastCgi "%s" /commit:apphost'
            % operation)


class _Doctor:
    def __init__(self, app_dir, appcmd, environ):
        self.app_dir = os.path.abspath(app_dir)
        self.appcmd = appcmd
        self.environ = dict(os.environ if environ is None else environ)
        self.findings = []
        self.registered = None    # the FastCGI applications, once listed

    def add(self, status: str, message: str, fix: str = "",
            detail: str = "") -> None:
        self.findings.append(Finding(status, message, fix, detail))

    def run(self) -> List[Finding]:
        if not os.path.isdir(self.app_dir):
            self.add(PROBLEM, "%s is not a folder" % self.app_dir,
                     "give the site's folder (its physical path in IIS)")
            return self.findings
        path = find_web_config(self.app_dir)
        if path is None:
            self.add(PROBLEM, "no web.config in %s" % self.app_dir,
                     "create %s like this (after `iiswsgi enable`):\n%s" % (
                         os.path.join(self.app_dir, "web.config"),
                         handler_snippet(self._our_processor())))
            return self.findings
        try:
            settings, handlers = site_configuration(path)
        except ConfigError as error:
            self.add(PROBLEM, str(error),
                     "IIS cannot use it either (HTTP 500.19), nor can the"
                     " gateway read its settings: fix it there")
            return self.findings
        self.add(OK, "web.config: %s" % path)
        python = None
        if not handlers:
            self.add(PROBLEM,
                     'no handler with modules="FastCgiModule" in'
                     " <system.webServer><handlers> of %s, so IIS does not"
                     " send requests to Python" % path,
                     "add one (this Python, after `iiswsgi enable`):\n%s"
                     % self._snippet_handler())
        for handler in handlers:
            python = self.check_handler(handler) or python
        self.check_log(settings)
        paste_style = any(" serve" in handler.arguments for handler in
                          handlers)
        if paste_style:
            self.add(SKIPPED, "WSGI_HANDLER: the handler runs `iiswsgi"
                     " serve` with an ini file, which names the application"
                     " itself")
        else:
            self.check_import(settings, python)
        return self.findings

    def _our_processor(self):
        return script_processor(quote_path(sys.executable), ARGUMENTS)

    def _snippet_handler(self):
        lines = handler_snippet(self._our_processor()).splitlines()
        start = next(i for i, line in enumerate(lines) if "<handlers>" in line)
        end = next(i for i, line in enumerate(lines) if "</handlers>" in line)
        return "\n".join(lines[start - 1:end + 2])

    # -- the handler and the interpreter ------------------------------------

    def check_handler(self, handler: Handler) -> Optional[str]:
        """Check one FastCGI handler; the interpreter it runs, if that
        exists."""
        label = 'handler "%s"' % handler.name
        if not handler.script_processor.strip():
            self.add(PROBLEM, "%s has no scriptProcessor" % label,
                     'set scriptProcessor="%s"' % self._our_processor())
            return None
        self.add(OK, '%s: scriptProcessor="%s"' % (
            label, handler.script_processor))
        self.check_registered(handler, label)
        python = handler.full_path.strip().strip('"')
        found = None
        if os.path.isfile(python):
            self.add(OK, "the interpreter %s exists" % python)
            found = python
        else:
            self.add(PROBLEM, "the interpreter %s in %s's scriptProcessor"
                     " does not exist" % (python, label),
                     "install Python there, or point scriptProcessor (and"
                     " the FastCGI application, with `iiswsgi enable` run by"
                     " the Python you want) at an existing python.exe")
        self.check_buffer(handler, label)
        if found:
            self.check_redirector(found)
        return found

    def _listed(self):
        if self.registered is None:
            command = appcmd_module.Appcmd(self.appcmd, self.environ)
            self.registered = appcmd_module.list_fastcgi_applications(
                command)
        return self.registered

    def check_registered(self, handler: Handler, label: str) -> None:
        what = "the FastCGI application %s" % handler.script_processor
        try:
            entries = self._listed()
        except appcmd_module.AppcmdNotFound as error:
            # Away from Windows, no appcmd is expected unless one is named.
            if self.appcmd:
                status, fix = PROBLEM, "give --appcmd an existing appcmd.exe"
            elif os.name == "nt":
                status, fix = PROBLEM, "install IIS, or give --appcmd PATH"
            else:
                status, fix = SKIPPED, ""
            self.add(status, "cannot check that %s is registered: %s"
                     % (what, error.message), fix)
            return
        except appcmd_module.AppcmdError as error:
            if error.access_denied:
                self.add(SKIPPED, "cannot check that %s is registered:"
                         " appcmd needs administrator rights (%s)"
                         % (what, error.message),
                         "run `iiswsgi doctor` from a command prompt opened"
                         " with \"Run as administrator\"")
            else:
                self.add(PROBLEM, "cannot list the registered FastCGI"
                         " applications: %s" % error,
                         "check that IIS and its CGI feature are installed")
            return
        entry = appcmd_module.find_fastcgi_application(
            entries, handler.full_path, handler.arguments)
        if entry is not None:
            self.add(OK, "%s is registered in applicationHost.config" % what)
            if entry.get("signalBeforeTerminateSeconds", "0") in ("", "0"):
                self.add(WARNING, "%s has no signalBeforeTerminateSeconds:"
                         " IIS ends the process without warning, even in"
                         " the middle of a request" % what,
                         "as an administrator:\n    " + _appcmd_line(
                             "/" + _key(entry) + ".signalBeforeTerminate"
                             "Seconds:30"))
            self.environ.update(entry.get("environmentVariables", {}))
            return
        registered = [application_name(e["fullPath"], e["arguments"])
                      for e in entries]

        def loose(value: str) -> str:
            return value.replace('"', "").replace(" |", "|").replace(
                "| ", "|").strip().casefold()
        near = [text for text in registered
                if loose(text) == loose(handler.script_processor)]
        if near:
            fix = ("scriptProcessor must be exactly fullPath|arguments of"
                   " the registered application, quotes included: use"
                   ' scriptProcessor="%s"' % near[0])
        else:
            if handler.arguments.strip().casefold() == ARGUMENTS:
                how = "register it, as an administrator: `%s -m iiswsgi.cli" \
                      " enable`" % quote_path(handler.full_path.strip('"'))
            else:
                how = "register it, as an administrator:\n    " + (
                    _appcmd_line("/+" + _key(
                        {"fullPath": handler.full_path,
                         "arguments": handler.arguments},
                        signalBeforeTerminateSeconds="30")))
            fix = ("%s\nor set scriptProcessor to a registered"
                   " fullPath|arguments exactly (%s)" % (
                       how, "; ".join(registered) or "none is registered"))
        self.add(PROBLEM, "%s's scriptProcessor does not match any registered"
                 " FastCGI application, so IIS cannot start it (HTTP 500)"
                 % label, fix)

    def check_buffer(self, handler: Handler, label: str) -> None:
        limit = handler.attributes.get("responseBufferLimit")
        if limit is not None and limit.strip() == "0":
            self.add(OK, "%s streams responses (responseBufferLimit=\"0\")"
                     % label)
            return
        shown = ("is not set (IIS's default is 4194304 bytes)"
                 if limit is None else 'is "%s"' % limit)
        self.add(WARNING, "%s: responseBufferLimit %s, so IIS holds back"
                 " responses until that much is written; streaming"
                 " responses need responseBufferLimit=\"0\"" % (label, shown),
                 'add responseBufferLimit="0" to the handler')

    def check_redirector(self, python: str) -> None:
        redirector = venv_redirector(python)
        if redirector is None:
            return
        if redirector.base and os.path.isfile(redirector.base):
            base = redirector.base
        else:
            base = "python.exe in %s" % (redirector.home or "the folder"
                                         " named by home")
        target = redirector.base or "BASE\\python.exe"
        self.add(WARNING,
                 "%s is a virtual environment's python.exe (%s), which since"
                 " Python 3.7.2 is a redirector: it starts the base"
                 " interpreter %s as a second process. IIS then runs two"
                 " processes per instance, ends the second only through its"
                 " job object, and the application pool identity needs"
                 " access to the base installation too"
                 % (python, redirector.pyvenv_cfg, base),
                 "point fullPath and scriptProcessor at the base interpreter"
                 " named by `home` in pyvenv.cfg (%s), with the"
                 " environment's packages on its PYTHONPATH. That must be an"
                 " environment variable of the FastCGI application"
                 " (appSettings are read too late to find iiswsgi itself),"
                 " and .pth files"
                 " in it are not read. As an administrator:\n"
                 "    %s -m iiswsgi.cli enable --python %s --env"
                 " PYTHONPATH=%s\n"
                 "then use the scriptProcessor it prints. Or keep the"
                 " redirector knowingly."
                 % (base, quote_path(python), quote_path(target),
                    quote_path(redirector.site_packages)))

    # -- the log and the application ----------------------------------------

    def check_log(self, settings: Mapping[str, str]) -> None:
        configured = settings.get("WSGI_LOG")
        if configured:
            problem = log_file_problem(configured)
            if problem is None:
                self.add(OK, "the log file %s (WSGI_LOG) is writable by you;"
                         " the application pool identity must be able to"
                         " write it too" % configured)
            else:
                self.add(PROBLEM, "the log file %s (WSGI_LOG) is not"
                         " writable: %s" % (configured, problem),
                         "create its folder and give the application pool"
                         " identity (IIS AppPool\\<pool name>) modify rights"
                         " on it, or point WSGI_LOG somewhere writable")
            return
        paths = logs.candidates(self.environ)
        reasons = []
        for path in paths:
            problem = log_file_problem(path)
            if problem is None:
                self.add(OK, "the log goes to %s (no WSGI_LOG; the first"
                         " writable of %s, in the application pool's own"
                         " environment under IIS)" % (path, ", ".join(paths)))
                return
            reasons.append("%s: %s" % (path, problem))
        self.add(PROBLEM, "no log file can be written: %s" % "; ".join(
            reasons), 'set WSGI_LOG in appSettings to a writable file: <add'
            ' key="WSGI_LOG" value="C:\\inetpub\\logs\\myapp.log" />')

    def check_import(self, settings: Mapping[str, str],
                     python: Optional[str]) -> None:
        handler = settings.get("WSGI_HANDLER") or self.environ.get(
            "WSGI_HANDLER")
        if not handler:
            self.add(PROBLEM, "WSGI_HANDLER is not set in appSettings",
                     'add <add key="WSGI_HANDLER" value="myproject.wsgi.'
                     'application" /> to <appSettings>')
            return
        note = ""
        if python is None or not _runnable(python):
            if python is not None:
                note = " (%s does not run here)" % python
            python = sys.executable
        try:
            result = subprocess.run(
                [python, "-c", _LOAD, self.app_dir], cwd=self.app_dir,
                env=self.environ, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                timeout=IMPORT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.add(PROBLEM, "WSGI_HANDLER %s: loading it took more than"
                     " %d seconds" % (handler, IMPORT_TIMEOUT),
                     "find what the application waits for at import time")
            return
        except OSError as error:
            self.add(PROBLEM, "cannot run %s: %s" % (python, error))
            return
        output = redact_text(result.stdout.decode("utf-8", "replace").strip(),
                             {**self.environ, **settings})
        if result.returncode == 0:
            self.add(OK, "WSGI_HANDLER %s loads with %s%s" % (
                handler, python, note))
            return
        if "No module named 'iiswsgi'" in output:
            fix = "install iiswsgi for that interpreter: %s -m pip install" \
                  " iiswsgi" % quote_path(python)
        else:
            fix = ("fix the error above (PYTHONPATH in appSettings is"
                   " appended to sys.path; the site's folder comes first)")
        self.add(PROBLEM, "WSGI_HANDLER %s does not load with %s%s:" % (
            handler, python, note), fix, output)


def diagnose(app_dir: str, appcmd: Optional[str] = None,
             environ: Optional[Mapping[str, str]] = None) -> List[Finding]:
    """Check the site in ``app_dir``: a list of :class:`Finding`.
    ``appcmd`` is the appcmd command (see :func:`iiswsgi.iis.appcmd.find_appcmd`).
    """
    return _Doctor(app_dir, appcmd, environ).run()
