"""What the emulator serves: a site's applications, the FastCGI handlers
their web.config files name, and the ``<fastCgi><application>`` settings
for each handler's process, read as IIS reads them."""

import logging
import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from .. import safexml
from ..iis.expand import expand_variables

__all__ = ["ConfigError", "Application", "FastCgiSettings", "HandlerRule",
           "Site", "load_site", "STDERR_MODES"]

log = logging.getLogger("iiswsgi.emulator")

STDERR_MODES = ("ReturnStdErrIn500", "ReturnGeneric500", "IgnoreAndReturn200",
                "TerminateProcess")

# Integer attributes of <fastCgi><application>: name -> (field, default,
# lowest, highest), defaults and ranges as IIS's schema gives them, but
# for maxInstances, whose 0 ("let IIS decide") is taken as 4.
_INTEGERS = {
    "maxInstances": ("max_instances", 4, 0, 10000),
    "instanceMaxRequests": ("instance_max_requests", 200, 1, 10000000),
    "activityTimeout": ("activity_timeout", 70, 10, 3600),
    "requestTimeout": ("request_timeout", 90, 10, 604800),
    "idleTimeout": ("idle_timeout", 300, 10, 604800),
    "queueLength": ("queue_length", 1000, 1, 10000000),
    "signalBeforeTerminateSeconds": ("signal_before_terminate_seconds", 0, 0,
                                     60),
}
AUTOMATIC_INSTANCES = 4
DEFAULT_RESPONSE_BUFFER_LIMIT = 4194304


class ConfigError(ValueError):
    """A configuration file the emulator cannot use; the message names the
    file and what is wrong."""


@dataclass
class FastCgiSettings:
    """One ``<fastCgi><application>``: the process and its pool."""
    full_path: str
    arguments: str = ""
    max_instances: int = AUTOMATIC_INSTANCES
    instance_max_requests: int = 200
    activity_timeout: int = 70
    request_timeout: int = 90
    idle_timeout: int = 300
    queue_length: int = 1000
    signal_before_terminate_seconds: int = 0
    stderr_mode: str = "ReturnStdErrIn500"
    environment_variables: dict = field(default_factory=dict)
    source: str = "defaults"

    @property
    def key(self):
        """The pool key: ``fullPath|arguments``, compared as IIS does
        (case-insensitively)."""
        return (self.full_path + "|" + self.arguments).casefold()

    @classmethod
    def from_element(cls, element, source):
        full_path = element.get("fullPath", "")
        if not full_path:
            raise ConfigError("%s: a <fastCgi><application> has no fullPath"
                              % source)
        values = {}
        for attribute, (name, default, low, high) in _INTEGERS.items():
            text = element.get(attribute)
            if text is None:
                continue
            try:
                number = int(text.strip())
            except ValueError:
                raise ConfigError("%s: %s=%r for %s is not a whole number"
                                  % (source, attribute, text, full_path)
                                  ) from None
            if not low <= number <= high:
                raise ConfigError("%s: %s=%d for %s is outside %d-%d"
                                  % (source, attribute, number, full_path,
                                     low, high))
            if attribute == "maxInstances" and number == 0:
                number = AUTOMATIC_INSTANCES
            values[name] = number
        mode = element.get("stderrMode")
        if mode is not None:
            if mode not in STDERR_MODES:
                raise ConfigError("%s: stderrMode=%r for %s is not one of %s"
                                  % (source, mode, full_path,
                                     ", ".join(STDERR_MODES)))
            values["stderr_mode"] = mode
        variables = {}
        for variable in element.findall(
                "environmentVariables/environmentVariable"):
            if variable.get("name"):
                variables[variable.get("name")] = variable.get("value", "")
        return cls(full_path, element.get("arguments", ""),
                   environment_variables=variables, source=source, **values)


@dataclass
class HandlerRule:
    """One ``<handlers><add>``."""
    name: str
    path: str
    verbs: tuple
    module: str
    script_processor: str = ""
    response_buffer_limit: int = DEFAULT_RESPONSE_BUFFER_LIMIT

    @property
    def is_fastcgi(self):
        return "fastcgimodule" in self.module.casefold()

    @property
    def key(self):
        # "C:\\php\\php-cgi.exe" without "|" names the application with
        # no arguments.
        full_path, _, arguments = self.script_processor.partition("|")
        return (full_path + "|" + arguments).casefold()

    def matches(self, method, relative):
        """Whether this handler takes ``method`` on ``relative`` (the path
        under the application, without its leading slash)."""
        if "*" not in self.verbs and method.upper() not in self.verbs:
            return False
        pattern = self.path.casefold()
        if "/" in pattern:
            return fnmatchcase(relative.casefold(), pattern.lstrip("/"))
        return fnmatchcase(relative.rpartition("/")[2].casefold(), pattern)

    @classmethod
    def from_element(cls, element, source):
        limit_text = element.get("responseBufferLimit")
        limit = DEFAULT_RESPONSE_BUFFER_LIMIT
        if limit_text is not None:
            try:
                limit = int(limit_text)
                if limit < 0:
                    raise ValueError(limit_text)
            except ValueError:
                raise ConfigError("%s: handler %r: responseBufferLimit=%r is"
                                  " not a whole number of bytes"
                                  % (source, element.get("name", ""),
                                     limit_text)) from None
        verbs = tuple(verb.strip().upper() for verb in
                      element.get("verb", "*").split(",") if verb.strip())
        return cls(element.get("name", ""), element.get("path", "*"),
                   verbs or ("*",), element.get("modules", ""),
                   element.get("scriptProcessor", ""), limit)


@dataclass
class Application:
    """An IIS application: its virtual path (``/`` or ``/name``) and the
    folder it maps to."""
    path: str
    physical_path: str
    pool: str = "DefaultAppPool"

    def relative(self, url_path):
        """``url_path`` under this application, without a leading slash,
        or None when it is not under it."""
        if self.path == "/":
            return url_path.lstrip("/")
        prefix = self.path.casefold()
        folded = url_path.casefold()
        if folded == prefix or folded.startswith(prefix + "/"):
            return url_path[len(self.path):].lstrip("/")
        return None


@dataclass
class Site:
    name: str
    site_id: int
    applications: list                 # longest path first
    fastcgi: list                      # FastCgiSettings from applicationHost
    apphost: str = None

    def application_for(self, url_path):
        for application in self.applications:
            relative = application.relative(url_path)
            if relative is not None:
                return application, relative
        return None, None

    def settings_for(self, handler, web_config_settings=()):
        """The FastCgiSettings for a FastCGI handler: the matching
        ``<fastCgi><application>`` of applicationHost.config; without one,
        a matching one in web.config (as install_msdeploy would register
        it) or, with no applicationHost.config, IIS's defaults.  None when
        applicationHost.config is given and has no match (IIS answers
        500)."""
        for settings in self.fastcgi:
            if settings.key == handler.key:
                return settings
        for settings in web_config_settings:
            if settings.key == handler.key:
                return settings
        if self.apphost is not None:
            return None
        full_path, _, arguments = handler.script_processor.partition("|")
        return FastCgiSettings(full_path, arguments)


def local_path(text, environ=None):
    """A physical path from IIS configuration, with ``%VAR%`` expanded and,
    off Windows, backslashes as slashes."""
    path = expand_variables(text, environ)
    if os.sep == "/":
        path = path.replace("\\", "/")
    return os.path.normpath(path)


def _same_folder(one, other):
    try:
        return os.path.samefile(one, other)
    except OSError:
        return os.path.normcase(os.path.abspath(one)) == \
            os.path.normcase(os.path.abspath(other))


def _parse(path, what):
    try:
        root = safexml.parse_file(path)
    except OSError as error:
        raise ConfigError("%s cannot be read: %s" % (path, error)) from None
    except safexml.XMLError as error:
        raise ConfigError("%s (%s): %s" % (path, what, error)) from None
    if root.tag != "configuration":
        raise ConfigError("%s: the root element is <%s>, not <configuration>"
                          % (path, root.tag))
    return root


def read_apphost(path):
    """(sites, fastcgi settings) of an applicationHost.config: sites as
    (name, id, [Application])."""
    root = _parse(path, "applicationHost.config")
    sites = []
    for element in root.findall("system.applicationHost/sites/site"):
        try:
            site_id = int(element.get("id", "0"))
        except ValueError:
            raise ConfigError("%s: site %r has id %r, not a number"
                              % (path, element.get("name"),
                                 element.get("id"))) from None
        applications = []
        for app in element.findall("application"):
            app_path = "/" + app.get("path", "/").strip("/")
            physical = None
            for directory in app.findall("virtualDirectory"):
                if directory.get("path", "/") == "/":
                    physical = directory.get("physicalPath")
            if physical is None:
                raise ConfigError("%s: application %s of site %r has no"
                                  ' <virtualDirectory path="/">'
                                  % (path, app_path, element.get("name")))
            applications.append(Application(
                app_path, local_path(physical),
                app.get("applicationPool", "DefaultAppPool")))
        sites.append((element.get("name", ""), site_id, applications))
    fastcgi = [FastCgiSettings.from_element(element, path) for element in
               root.findall("system.webServer/fastCgi/application")]
    return sites, fastcgi


def load_site(site_dir, apphost=None):
    """The Site to serve for ``site_dir``: with an applicationHost.config,
    the site holding an application whose folder is ``site_dir`` (every
    application of that site is served); otherwise ``site_dir`` as the
    root application of site 1."""
    site_dir = os.path.abspath(site_dir)
    if not os.path.isdir(site_dir):
        raise ConfigError("%s is not a folder: give the folder of the site"
                          " (where its web.config is)" % site_dir)
    if apphost is None:
        return Site("Default Web Site", 1, [Application("/", site_dir)], [])
    apphost = os.path.abspath(apphost)
    sites, fastcgi = read_apphost(apphost)
    for name, site_id, applications in sites:
        if any(_same_folder(app.physical_path, site_dir)
               for app in applications):
            applications.sort(key=lambda app: len(app.path), reverse=True)
            return Site(name, site_id, applications, fastcgi, apphost)
    log.warning(
        "%s: no application of its sites has the folder %s (theirs: %s);"
        " serving it as the root of site 1, with the <fastCgi> settings of"
        " that file.  An unset %%VARIABLE%% in a physicalPath is kept as"
        " written, as IIS keeps it.", apphost, site_dir, ", ".join(
            "%s%s -> %s" % (name, app.path, app.physical_path)
            for name, _, applications in sites for app in applications)
        or "none")
    return Site("Default Web Site", 1, [Application("/", site_dir)], fastcgi,
                apphost)


class WebConfigCache:
    """web.config files read as the handlers and FastCGI settings that
    apply to a folder, re-read when they change."""

    def __init__(self):
        self._files = {}

    def _read(self, path):
        try:
            stamp = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return None
        except OSError as error:
            raise ConfigError("%s cannot be read: %s" % (path, error)
                              ) from None
        cached = self._files.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        root = _parse(path, "web.config")
        changes = []
        for server in root.findall("system.webServer"):
            for handlers in server.findall("handlers"):
                for element in handlers:
                    if element.tag == "clear":
                        changes.append(("clear", None))
                    elif element.tag == "remove":
                        changes.append(("remove", element.get("name", "")))
                    elif element.tag == "add":
                        changes.append(("add", HandlerRule.from_element(
                            element, path)))
        fastcgi = [FastCgiSettings.from_element(element, path)
                   for element in root.findall(
                       "system.webServer/fastCgi/application")]
        double_escaping = None
        for element in root.findall(
                "system.webServer/security/requestFiltering"):
            value = element.get("allowDoubleEscaping")
            if value is not None:
                double_escaping = value.strip().lower() == "true"
        result = (changes, fastcgi, double_escaping)
        self._files[path] = (stamp, result)
        return result

    def _config_path(self, folder):
        # IIS finds web.config whatever its case.
        try:
            names = os.listdir(folder)
        except OSError:
            return None
        for name in names:
            if name.casefold() == "web.config":
                return os.path.join(folder, name)
        return None

    def _chain(self, application, relative):
        """What the web.config files from the application's folder down to
        the folder of ``relative`` say, outermost first."""
        folder = application.physical_path
        parts = [part for part in relative.split("/")[:-1] if part]
        for index in range(len(parts) + 1):
            if index:
                folder = os.path.join(folder, parts[index - 1])
            if not os.path.isdir(folder):
                return
            path = self._config_path(folder)
            read = self._read(path) if path else None
            if read is not None:
                yield read

    def handlers(self, application, relative):
        """(handlers in the order IIS tries them, FastCgiSettings declared
        in these web.config files, requestFiltering's allowDoubleEscaping)
        for ``relative`` under ``application``."""
        handlers, fastcgi, double_escaping = [], [], False
        for changes, settings, allowed in self._chain(application, relative):
            fastcgi.extend(settings)
            if allowed is not None:
                double_escaping = allowed
            added = []
            for action, value in changes:
                if action == "clear":
                    handlers, added = [], []
                elif action == "remove":
                    handlers = [h for h in handlers if h.name != value]
                    added = [h for h in added if h.name != value]
                else:
                    added.append(value)
            # A deeper web.config's handlers come before inherited ones.
            handlers = added + handlers
        return handlers, fastcgi, double_escaping
