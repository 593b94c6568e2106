"""Check a site's IIS set-up for what keeps a Python application from
running: ``iiswsgi doctor APPDIR``.

Each check gives a :class:`Finding`: OK, WARNING (works, but read this),
PROBLEM (will not work as it is; each comes with a fix) or SKIPPED (could
not be checked here).  :func:`diagnose` runs them all.
"""

import json
import logging
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple
from xml.sax.saxutils import escape

from . import logs
from .redaction import redact_text
from .iis import appcmd as appcmd_module
from .iis.cmdline import quote_path, split_command_line
from .iis.expand import expand_variables
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
# web.config may ask the running site for, and without opening WSGI_LOG
# (doctor changes nothing: no log file, no folder, no bytecode).  An
# iiswsgi older than HostedApplication.load's debugger/telemetry switches
# is patched instead.  The outcome is one JSON line after _MARKER: the
# error's type and message, its traceback with the application's frames
# only, and, for WSGI_HANDLER, which part of the name failed.
_MARKER = "iiswsgi-doctor-result: "

_LOAD = """\
import importlib.util, inspect, json, os, sys, traceback
MARKER = "iiswsgi-doctor-result: "  # doctor._MARKER
import iiswsgi
import iiswsgi.hosting as hosting
try:
    import iiswsgi.logs as logs
    logs.configure = lambda *args, **kwargs: None
except ImportError:
    pass
OURS = os.path.dirname(os.path.abspath(iiswsgi.__file__)) + os.sep
def own(frame):
    name = frame.filename
    return not (name.startswith(OURS) or name.startswith("<frozen"))
def pieces(error, seen):
    seen.add(id(error))
    text = []
    cause = error.__cause__ or (None if error.__suppress_context__
                                else error.__context__)
    if cause is not None and id(cause) not in seen:
        text += pieces(cause, seen)
        text.append("\\n" + ("The above exception was the direct cause of"
                              " the following exception:"
                              if error.__cause__ is not None else
                              "During handling of the above exception,"
                              " another exception occurred:") + "\\n\\n")
    frames = [f for f in traceback.extract_tb(error.__traceback__) if own(f)]
    if frames:
        text.append("Traceback (most recent call last):\\n")
        text += traceback.format_list(frames)
    text += traceback.format_exception_only(type(error), error)
    return text
def diagnose(handler):
    parts = handler.split(".")
    for count in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:count])
        module = sys.modules.get(name)
        if module is None:
            continue
        part = parts[count]
        if part.endswith("()") or hasattr(module, part):
            return None
        package = hasattr(module, "__path__")
        if package or count < len(parts) - 1:
            return {"missing_module": name + "." + part,
                    "parent": name, "package": package}
        names = sorted(n for n in dir(module) if not n.startswith("_")
                       and callable(getattr(module, n, None)))
        return {"missing_attribute": part, "parent": name, "names": names}
    return None
application = hosting.HostedApplication()
environ = {"APPL_PHYSICAL_PATH": sys.argv[1]}
result = {"ok": True}
try:
    if "telemetry" in inspect.signature(application.load).parameters:
        application.load(environ, debugger=False, telemetry=False)
    else:
        hosting.start_debugger = lambda *args: False
        hosting.add_telemetry = lambda application, key: application
        application.load(environ)
except Exception as error:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if own(f)]
    result = {"ok": False, "type": type(error).__name__,
              "message": str(error), "name": getattr(error, "name", None),
              "traceback": "".join(pieces(error, set())),
              "where": [frames[-1].filename, frames[-1].lineno]
              if frames else None,
              "syntax": [error.filename, error.lineno]
              if isinstance(error, SyntaxError) else None}
    if type(error).__name__ == "HandlerError":
        result["handler"] = diagnose(os.environ.get("WSGI_HANDLER", ""))
sys.stdout.flush()
sys.stdout.write("\\n%s%s\\n" % (MARKER, json.dumps(result)))
"""


def _attribute(value: str) -> str:
    """``value`` as an XML attribute value in double quotes (quotes as
    ``&quot;``, as enable's web.config writes them)."""
    return '"%s"' % escape(value, {'"': "&quot;"})


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
    """Why the gateway could not write its log at ``path``, or None when
    it could (creating the file, and missing folders, as the gateway
    would).  Nothing is created, opened for writing or changed."""
    path = os.path.abspath(path)
    try:
        named = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        named = None
    except OSError as error:
        return error.strerror or str(error)
    if named is not None:
        if stat.S_ISLNK(named.st_mode):
            return "it is a link, which the gateway does not follow"
        if stat.S_ISDIR(named.st_mode):
            return "it is a folder"
        if not stat.S_ISREG(named.st_mode):
            return "it is not a regular file"
        if os.name != "nt" and named.st_uid != os.geteuid():
            return "it belongs to another user (uid %d)" % named.st_uid
        if not os.access(path, os.W_OK):
            return "you cannot write it"
        return None
    folder = os.path.dirname(path)
    while not os.path.lexists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if not os.path.isdir(folder):
        return "%s is a file, not a folder" % folder
    if not os.access(folder, os.W_OK | os.X_OK):
        return "you cannot create files in %s" % folder
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


_INTERPRETER_DLL = re.compile(r"python3\d*\.dll$", re.IGNORECASE)
_PATH_FILE = re.compile(r"python3\d*\._pth$", re.IGNORECASE)


def _words(arguments):
    return split_command_line(arguments or "")


def _script_argument(arguments: str) -> Optional[str]:
    """The script a FastCGI application's arguments run (wfastcgi's
    ``C:\\Python\\Lib\\site-packages\\wfastcgi.py``), or None when they
    run a module (``-m iiswsgi``) or nothing."""
    words = _words(arguments)
    if words and not words[0].startswith("-") and (
            words[0].lower().endswith((".py", ".pyw"))):
        return words[0]
    return None


def _paste_ini(handler: Handler) -> Optional[str]:
    """The ini file a handler serves Paste style (``-m iiswsgi.cli serve
    app.ini``, ``paster serve -s egg:iiswsgi#iis app.ini``), or None when
    it does not serve one."""
    words = _words(handler.arguments)
    if "serve" not in words:
        return None
    after = words[words.index("serve") + 1:]
    inis = [word for word in after if word.lower().endswith(".ini")]
    return inis[0] if inis else ""


def _files_like(folder, pattern):
    try:
        return sorted(name for name in os.listdir(folder)
                      if pattern.match(name))
    except OSError:
        return []


class _Doctor:
    def __init__(self, app_dir, appcmd, environ):
        self.app_dir = os.path.abspath(app_dir)
        self.appcmd = appcmd
        self.environ = dict(os.environ if environ is None else environ)
        self.findings = []
        self.registered = None    # the FastCGI applications, once listed
        self.settings: Dict[str, str] = {}

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
        self.check_python_path(settings)
        self.settings = settings
        inis = [ini for ini in (_paste_ini(handler) for handler in handlers)
                if ini is not None]
        if inis:
            self.add(SKIPPED, "WSGI_HANDLER: the handler serves an ini file"
                     " (`iiswsgi serve`, `paster serve`), which names the"
                     " application itself")
            for ini in inis:
                self.check_ini(ini)
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
                     "set scriptProcessor=%s" % _attribute(
                         self._our_processor()))
            return None
        script = _script_argument(handler.arguments)
        if script is not None and not os.path.isfile(script):
            self.add(PROBLEM, '%s: scriptProcessor="%s" runs the script %s,'
                     " which does not exist, so IIS cannot start it (\"The"
                     ' FastCGI process exited unexpectedly")'
                     % (label, handler.script_processor, script),
                     "serve with iiswsgi instead (after `iiswsgi enable`):"
                     " scriptProcessor=%s; or give the script's real path"
                     % _attribute(self._our_processor()))
        else:
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
                   " scriptProcessor=%s" % _attribute(near[0]))
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
        here = os.path.dirname(os.path.abspath(python))
        copied = _files_like(here, _INTERPRETER_DLL)
        if copied:
            # `virtualenv --copies` (and the like): the whole interpreter,
            # its DLL beside it; one process, nothing to fix.
            self.add(OK, "%s is a virtual environment's full copy of the"
                     " interpreter (%s beside it), not a redirector: IIS"
                     " runs one process" % (python, copied[0]))
            return
        base_folder = redirector.home or os.path.dirname(redirector.base)
        path_files = _files_like(base_folder, _PATH_FILE)
        if path_files:
            path_file = os.path.join(base_folder, path_files[0])
            self.add(WARNING,
                     "%s is a virtual environment's python.exe (%s), which"
                     " since Python 3.7.2 is a redirector: it starts the"
                     " base interpreter in %s as a second process. That base"
                     " is an embeddable distribution: its %s makes it ignore"
                     " PYTHONPATH, so registering it with the environment's"
                     " packages on PYTHONPATH would not find them"
                     % (python, redirector.pyvenv_cfg, base_folder,
                        path_files[0]),
                     "keep the redirector knowingly; or register the base"
                     " interpreter after adding the line\n    %s\nto %s"
                     " (as an administrator: %s -m iiswsgi.cli enable"
                     " --python %s); or make the environment with"
                     " `virtualenv --copies`, which copies the interpreter"
                     % (redirector.site_packages, path_file,
                        quote_path(python), quote_path(redirector.base)))
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
        fix = ('set WSGI_LOG in appSettings to a file the application pool'
               ' can write: <add key="WSGI_LOG"'
               ' value="C:\\inetpub\\logs\\myapp.log" />')
        paths = logs.candidates(self.environ)
        reasons = []
        for path in paths:
            problem = log_file_problem(path)
            if problem is None:
                self.add(OK, "the log goes to %s (no WSGI_LOG; the first"
                         " writable of %s, IIS Express's folder)"
                         % (path, ", ".join(paths)))
                return
            reasons.append("%s: %s" % (path, problem))
        if reasons:
            self.add(PROBLEM, "no log file can be written: %s"
                     % "; ".join(reasons), fix)
            return
        self.add(WARNING, "WSGI_LOG is not set: under IIS the gateway's"
                 " lines and the application's errors are written nowhere"
                 " (standard error is not kept; iiswsgi never logs to a"
                 " shared temporary folder)", fix)

    def check_python_path(self, settings: Mapping[str, str]) -> None:
        value = next((v for k, v in settings.items()
                      if k.upper() == "PYTHONPATH"), None)
        if value is None:
            return
        for entry in expand_variables(value, self.environ,
                                      keep_unknown=False).split(";"):
            entry = entry.strip()
            if not entry:
                continue
            folder = os.path.join(self.app_dir, entry)
            if os.path.isdir(folder) or (os.path.isfile(folder) and (
                    folder.lower().endswith((".zip", ".egg", ".whl")))):
                self.add(OK, "PYTHONPATH entry %s exists" % entry)
            else:
                self.add(WARNING, "PYTHONPATH entry %s (appSettings) does"
                         " not exist%s, so nothing is imported from it"
                         % (entry, "" if os.path.isabs(entry) else
                            " (relative to %s)" % self.app_dir),
                         "correct it or remove it from PYTHONPATH in"
                         " appSettings (entries are separated by ;)")

    def check_ini(self, ini: str) -> None:
        if not ini:
            self.add(PROBLEM, "the handler runs `serve` without an ini file",
                     "name the ini file after serve, e.g. -m iiswsgi.cli"
                     " serve C:\\inetpub\\myapp\\production.ini")
            return
        path = os.path.join(self.app_dir, ini)
        if os.path.isfile(path):
            self.add(OK, "the ini file %s exists" % ini)
        else:
            self.add(PROBLEM, "the ini file %s that the handler serves does"
                     " not exist" % ini,
                     "give the ini file's full path in scriptProcessor (and"
                     " the registered FastCGI application's arguments)")

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
        # No bytecode written into the site (doctor changes nothing).
        env = dict(self.environ, PYTHONDONTWRITEBYTECODE="1")
        try:
            result = subprocess.run(
                [python, "-c", _LOAD, self.app_dir],
                cwd=self.app_dir, env=env, stdin=subprocess.DEVNULL,
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
        output = result.stdout.decode("utf-8", "replace")
        text, _, outcome = output.rpartition("\n" + _MARKER)
        try:
            loaded = json.loads(outcome)
        except ValueError:
            loaded, text = None, output.strip()
        if loaded is not None and loaded.get("ok") and result.returncode == 0:
            self.add(OK, "WSGI_HANDLER %s loads with %s%s" % (
                handler, python, note))
            return
        what = "WSGI_HANDLER %s does not load with %s%s" % (
            handler, python, note)
        if loaded is None:
            if "No module named 'iiswsgi'" in text:
                fix = ("install iiswsgi for that interpreter: %s -m pip"
                       " install iiswsgi" % quote_path(python))
            else:
                fix = ("run %s -m iiswsgi.cli doctor with that interpreter"
                       " to see why it stops" % quote_path(python))
            self.add(PROBLEM, what + ":", fix, self._redact(text))
            return
        message, fix = _explain(loaded, handler)
        # What the application printed, then its part of the traceback
        # (none when WSGI_HANDLER itself names nothing: the message says it).
        shown = [text.strip()]
        if not loaded.get("handler"):
            shown.append(loaded.get("traceback", "").rstrip())
        # The message quotes the exception, which may quote a secret.
        self.add(PROBLEM, self._redact("%s: %s" % (what, message)),
                 self._redact(fix),
                 self._redact("\n".join(part for part in shown if part)))

    def _redact(self, text: str) -> str:
        # The traceback may quote a setting's value: hide the secret ones,
        # by name, by value and by shape (iiswsgi.redaction).
        return redact_text(text, {**self.environ, **self.settings})


def _explain(loaded: Mapping[str, Any], handler: str) -> Tuple[str, str]:
    """(what went wrong, what to do) for the load error ``loaded`` (the
    load script's report)."""
    kind = loaded.get("type")
    message = loaded.get("message") or ""
    where = loaded.get("where")
    diagnosis = loaded.get("handler") or {}
    search = ("the site's folder comes first on sys.path; PYTHONPATH in"
              " appSettings (;-separated) is appended")
    if diagnosis.get("missing_module"):
        module = diagnosis["missing_module"]
        parent = diagnosis["parent"]
        shape = ("the package %s has no module %s" % (
            parent, module.rpartition(".")[2]) if diagnosis.get("package")
            else "%s is a module, not a package" % parent)
        return ("the module %s cannot be imported (%s)" % (module, shape),
                "check the module part of WSGI_HANDLER for a typo (%s), or"
                " add the folder that holds %s to PYTHONPATH (%s)"
                % (handler, module.replace(".", os.sep) + ".py", search))
    if diagnosis.get("missing_attribute"):
        names = diagnosis.get("names") or []
        return ("the module %s has no %s" % (
            diagnosis["parent"], diagnosis["missing_attribute"]),
            "name the application after the module in WSGI_HANDLER: %s%s"
            % (diagnosis["parent"], "." + names[0] if len(names) == 1 else
               ".<name>, one of: %s" % ", ".join(names[:12]) if names
               else ".<name> (it defines no callable)"))
    if kind == "HandlerError":
        if "no module" in message:
            first = handler.split(".")[0]
            return (message, "check the first part of WSGI_HANDLER (%s) for"
                    " a typo, or add the folder that holds %s.py or the"
                    " package %s to PYTHONPATH (%s)"
                    % (first, first, first, search))
        return (message, "WSGI_HANDLER must name a WSGI application, such as"
                " myproject.wsgi.application or module.make_app()")
    if kind in ("ModuleNotFoundError", "ImportError") and loaded.get("name"):
        name = loaded["name"]
        top = name.split(".")[0]
        return ("%s: %s" % (kind, message),
                "install %s for the site's interpreter (python -m pip install"
                " %s, the package's name may differ), or add the folder that"
                " holds it to PYTHONPATH (%s)%s"
                % (top, top, search, " (imported at %s, line %d)" % (
                    where[0], where[1]) if where else ""))
    if loaded.get("syntax"):
        filename, line = loaded["syntax"]
        return ("%s: %s" % (kind, message),
                "correct the syntax of %s, line %s" % (filename, line))
    if kind == "ImproperlyConfigured":
        return ("%s: %s" % (kind, message),
                "check DJANGO_SETTINGS_MODULE in appSettings and the settings"
                " module it names")
    if kind == "ConfigError":
        return (message, "correct web.config there: IIS cannot use it"
                " either (HTTP 500.19)")
    if where:
        return ("%s: %s" % (kind, message),
                "the application raised it at %s, line %d (the last line of"
                " the traceback above): correct it there" % (where[0],
                                                             where[1]))
    return ("%s: %s" % (kind, message), "correct what the message says")


def diagnose(app_dir: str, appcmd: Optional[str] = None,
             environ: Optional[Mapping[str, str]] = None) -> List[Finding]:
    """Check the site in ``app_dir``: a list of :class:`Finding`.
    ``appcmd`` is the appcmd command (see :func:`iiswsgi.iis.appcmd.find_appcmd`).
    """
    return _Doctor(app_dir, appcmd, environ).run()
