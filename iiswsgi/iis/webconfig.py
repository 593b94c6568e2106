"""The one reader of IIS configuration files (web.config, and the
sections applicationHost.config shares with it), read as IIS's
configuration reference defines them.

A file is parsed once into its *scopes*: the sections directly under
``<configuration>`` and those of each ``<location path=...>`` block.
:func:`merge` applies a chain of them -- the application's web.config,
then each sub-folder's, each with the ``<location>`` blocks that match the
requested path -- and gives the effective :class:`Configuration`:

- ``appSettings``: keyed by ``key`` in any case, the last ``<add>`` wins
  (ASP.NET's rule); ``<remove>``, ``<clear/>``, ``file=`` and
  ``configSource=`` honoured;
- ``system.webServer/handlers``: keyed by ``name``; a level's entries come
  before the ones it inherits (the collection is not mergeAppend);
- ``system.webServer/fastCgi/application``: keyed by fullPath and
  arguments in any case, with its ``environmentVariables`` (by name);
- ``system.webServer/security/requestFiltering``: allowDoubleEscaping,
  fileExtensions (allowUnlisted, by fileExtension), hiddenSegments (by
  segment), requestLimits@maxAllowedContentLength, on top of the defaults
  of IIS's own applicationHost.config;
- ``system.webServer/staticContent``: mimeMap by fileExtension, on top of
  IIS's default MIME map unless ``<clear/>``.

In IIS's collections a key is matched in any case, and adding a key that
is already there is an error (HTTP 500.19), as it is here.  Every error is
a :class:`ConfigError` naming the file, line and column, what is wrong and
what to do.
"""

import logging
import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .. import safexml
from ..errors import IISWSGIError

__all__ = [
    "AUTOMATIC_INSTANCES", "ConfigCache", "ConfigError", "ConfigFile",
    "Configuration", "DEFAULT_HIDDEN_SEGMENTS", "DEFAULT_MIME_MAP",
    "DEFAULT_DENIED_EXTENSIONS", "FastCgiApplication", "Handler",
    "RequestFiltering", "STDERR_MODES", "Scope", "StaticContent",
    "app_settings", "application_key", "configuration_for", "find_web_config", "merge",
    "read_app_settings", "read_config_file", "read_environment_variables",
    "read_fastcgi_applications", "read_web_config"]

log = logging.getLogger("iiswsgi.iis.webconfig")

STDERR_MODES = ("ReturnStdErrIn500", "ReturnGeneric500", "IgnoreAndReturn200",
                "TerminateProcess")

# Integer attributes of <fastCgi><application>: name -> (field, default,
# lowest, highest), as IIS's schema gives them.
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
# maxInstances="0" lets IIS decide; the emulator takes that as 4.
AUTOMATIC_INSTANCES = 4
DEFAULT_RESPONSE_BUFFER_LIMIT = 4194304
DEFAULT_MAX_ALLOWED_CONTENT_LENGTH = 30000000
_UINT_MAX = 4294967295
_RESOURCE_TYPES = ("File", "Directory", "Either", "Unspecified")
_ACCESS = ("None", "Read", "Write", "Script", "Execute")

# requestFiltering as IIS's applicationHost.config ships it.
DEFAULT_HIDDEN_SEGMENTS = (
    "web.config", "bin", "App_code", "App_GlobalResources",
    "App_LocalResources", "App_WebReferences", "App_Data", "App_Browsers")
DEFAULT_DENIED_EXTENSIONS = (
    ".asa", ".asax", ".ascx", ".master", ".skin", ".browser", ".sitemap",
    ".config", ".cs", ".csproj", ".vb", ".vbproj", ".webinfo", ".licx",
    ".resx", ".resources", ".mdb", ".vjsproj", ".java", ".jsl", ".ldb",
    ".dsdgm", ".ssdgm", ".lsad", ".ssmap", ".cd", ".dsprototype",
    ".lsaprototype", ".sdm", ".sdmDocument", ".mdf", ".ldf", ".ad", ".dd",
    ".ldd", ".sd", ".adprototype", ".lddprototype", ".exclude", ".refresh",
    ".compiled", ".msgx", ".vsdisco", ".rules")

# IIS 10's staticContent mimeMap, as its applicationHost.config ships it
# (an extension missing here is answered 404.3 unless web.config adds it).
DEFAULT_MIME_MAP = {
    ".323": "text/h323", ".3g2": "video/3gpp2", ".3gp": "video/3gpp",
    ".3gp2": "video/3gpp2", ".3gpp": "video/3gpp",
    ".7z": "application/x-7z-compressed", ".aac": "audio/aac",
    ".aaf": "application/octet-stream", ".aca": "application/octet-stream",
    ".accdb": "application/msaccess", ".ai": "application/postscript",
    ".aif": "audio/x-aiff", ".aifc": "audio/aiff", ".aiff": "audio/aiff",
    ".application": "application/x-ms-application",
    ".asf": "video/x-ms-asf", ".asm": "text/plain", ".asx": "video/x-ms-asf",
    ".au": "audio/basic", ".avi": "video/x-msvideo",
    ".bin": "application/octet-stream", ".bmp": "image/bmp",
    ".cab": "application/vnd.ms-cab-compressed",
    ".cer": "application/x-x509-ca-cert",
    ".class": "application/x-java-applet", ".cpp": "text/plain",
    ".crl": "application/pkix-crl", ".css": "text/css", ".csv": "text/csv",
    ".dll": "application/x-msdownload", ".doc": "application/msword",
    ".docm": "application/vnd.ms-word.document.macroEnabled.12",
    ".docx": "application/vnd.openxmlformats-officedocument"
             ".wordprocessingml.document",
    ".dot": "application/msword", ".dtd": "text/xml",
    ".eml": "message/rfc822", ".eot": "application/vnd.ms-fontobject",
    ".eps": "application/postscript", ".etx": "text/x-setext",
    ".exe": "application/octet-stream", ".flv": "video/x-flv",
    ".gif": "image/gif", ".gz": "application/x-gzip", ".h": "text/plain",
    ".hta": "application/hta", ".htc": "text/x-component",
    ".htm": "text/html", ".html": "text/html", ".hxt": "text/html",
    ".ico": "image/x-icon", ".ics": "application/octet-stream",
    ".ief": "image/ief", ".jar": "application/java-archive",
    ".java": "application/octet-stream", ".jpe": "image/jpeg",
    ".jpeg": "image/jpeg", ".jpg": "image/jpeg",
    ".js": "application/javascript", ".json": "application/json",
    ".jsx": "text/jscript", ".latex": "application/x-latex",
    ".m3u": "audio/x-mpegurl", ".m4a": "audio/mp4", ".m4v": "video/mp4",
    ".man": "application/x-troff-man", ".mdb": "application/x-msaccess",
    ".mht": "message/rfc822", ".mhtml": "message/rfc822",
    ".mid": "audio/mid", ".midi": "audio/mid", ".mov": "video/quicktime",
    ".mp2": "video/mpeg", ".mp3": "audio/mpeg", ".mp4": "video/mp4",
    ".mp4v": "video/mp4", ".mpa": "video/mpeg", ".mpe": "video/mpeg",
    ".mpeg": "video/mpeg", ".mpg": "video/mpeg",
    ".msi": "application/octet-stream", ".oga": "audio/ogg",
    ".ogg": "audio/ogg", ".ogv": "video/ogg", ".one": "application/onenote",
    ".otf": "font/otf", ".pdf": "application/pdf",
    ".pfx": "application/x-pkcs12", ".png": "image/png",
    ".pot": "application/vnd.ms-powerpoint",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument"
             ".presentationml.presentation",
    ".ps": "application/postscript", ".qt": "video/quicktime",
    ".ra": "audio/x-pn-realaudio", ".ram": "audio/x-pn-realaudio",
    ".rar": "application/octet-stream", ".rtf": "application/rtf",
    ".rtx": "text/richtext", ".sgml": "text/sgml",
    ".svg": "image/svg+xml", ".svgz": "image/svg+xml",
    ".swf": "application/x-shockwave-flash", ".tar": "application/x-tar",
    ".tgz": "application/x-compressed", ".tif": "image/tiff",
    ".tiff": "image/tiff", ".tsv": "text/tab-separated-values",
    ".ttf": "application/octet-stream", ".txt": "text/plain",
    ".vcf": "text/x-vcard", ".vsd": "application/vnd.visio",
    ".wav": "audio/wav", ".wasm": "application/wasm",
    ".webm": "video/webm", ".webp": "image/webp", ".wma": "audio/x-ms-wma",
    ".wmv": "video/x-ms-wmv", ".woff": "font/x-woff",
    ".woff2": "application/font-woff2", ".xaml": "application/xaml+xml",
    ".xap": "application/x-silverlight-app",
    ".xhtml": "application/xhtml+xml", ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument"
             ".spreadsheetml.sheet",
    ".xml": "text/xml", ".xsd": "text/xml", ".xsl": "text/xml",
    ".xslt": "text/xml", ".z": "application/x-compress",
    ".zip": "application/x-zip-compressed",
}


# -- errors -------------------------------------------------------------------

class ConfigError(IISWSGIError, ValueError):
    """A configuration file that cannot be used as it is: ``path``,
    ``line`` and ``column`` (from 1; 0 when unknown) say where, the message
    what is wrong and what to do."""

    def __init__(self, problem: str, path: str = "", line: int = 0,
                 column: int = 0, message: Optional[str] = None):
        self.path = path
        self.line = line
        self.column = column
        self.problem = problem
        if message is None and path and line:
            message = "%s: %s (line %d, column %d)" % (path, problem, line,
                                                     column)
        elif message is None:
            message = "%s: %s" % (path, problem) if path else problem
        ValueError.__init__(self, message)

    @property
    def location(self) -> str:
        """``file:line:column``."""
        return "%s:%d:%d" % (self.path, self.line, self.column)


def _error(path, element, problem):
    return ConfigError(problem, path, getattr(element, "line", 0),
                       getattr(element, "column", 0))


def _xml_error(error, what):
    """The ConfigError for a safexml.XMLError: its message (file, line,
    column, problem) and what to do."""
    if "DOCTYPE" in error.problem:
        fix = "remove it: a %s never needs one" % what
    else:
        fix = "IIS cannot read it either (HTTP 500.19): fix the XML there"
    return ConfigError(error.problem, error.source, error.line,
                       error.column, "%s; %s" % (error, fix))


def _parse(path, what="web.config"):
    try:
        root = safexml.parse_file(path)
    except OSError as error:
        raise ConfigError("cannot be read: %s" % (error.strerror or error),
                          path) from None
    except safexml.XMLError as error:
        raise _xml_error(error, what) from None
    if root.tag != "configuration":
        raise _error(path, root, "the root element is <%s>, not"
                     " <configuration>: a %s holds one <configuration>"
                     % (root.tag, what))
    return root


# -- files and scopes ---------------------------------------------------------

def find_web_config(directory: str) -> Optional[str]:
    """The web.config in ``directory``, its name matched in any case (as
    IIS finds it), or None."""
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    for name in sorted(names):
        if name.casefold() == "web.config":
            return os.path.join(directory, name)
    return None


def _location_path(text):
    path = text.strip().replace("\\", "/").strip("/")
    return "" if path == "." else path


@dataclass
class Scope:
    """The sections directly under ``<configuration>`` (path "") or under
    one ``<location path=...>`` (path relative to the file's folder)."""
    element: object
    path: str = ""
    inherit_in_child_applications: bool = True

    def applies_to(self, relative: str) -> bool:
        """Whether this scope applies to ``relative`` (a path under the
        file's folder, "/"-separated, without a leading slash)."""
        if not self.path:
            return True
        folded, prefix = relative.casefold().strip("/"), \
            self.path.casefold()
        return folded == prefix or folded.startswith(prefix + "/")


@dataclass
class ConfigFile:
    """One parsed configuration file."""
    path: str
    root: object
    scopes: List[Scope]

    def scopes_for(self, relative: str = "",
                   child_application: bool = False) -> List[Scope]:
        """The scopes that apply to ``relative``, least specific first; in
        a parent application's file (``child_application``) those with
        inheritInChildApplications="false" are left out."""
        found = [scope for scope in self.scopes if scope.applies_to(relative)
                 and not (child_application
                          and not scope.inherit_in_child_applications)]
        found.sort(key=lambda scope: scope.path.count("/") + bool(scope.path))
        return found


def read_config_file(path: str, what: str = "web.config") -> ConfigFile:
    """``path`` parsed into its scopes; ConfigError when it cannot be."""
    root = _parse(path, what)
    scopes = [Scope(root)]
    for element in root.findall("location"):
        for inner in element.iter("location"):
            if inner is not element:
                raise _error(path, inner, "a <location> inside another"
                             " <location> is not allowed: put it directly"
                             " in <configuration>, with the combined path")
        inherit = _boolean(path, element, "inheritInChildApplications", True)
        scopes.append(Scope(element, _location_path(element.get("path", "")),
                            inherit))
    return ConfigFile(path, root, scopes)


class ConfigCache:
    """Configuration files read once, and again when they change."""

    def __init__(self):
        self._files = {}
        self._merged = {}

    def merge(self, levels: Sequence[Tuple[ConfigFile, str]]
              ) -> "Configuration":
        """:func:`merge` of ``levels``, computed once for each set of
        scopes that apply (the same for every file under one folder)."""
        scopes = _applicable(levels)
        key = tuple(id(config_file) for config_file, _ in levels) + tuple(
            id(scope) for _, scope in scopes)
        found = self._merged.get(key)
        if found is None:
            # The levels are kept with the result, so the ids stay theirs.
            found = self._merged[key] = (levels, _merge(
                [config_file.path for config_file, _ in levels], scopes))
        return found[1]

    def read(self, path: str, what: str = "web.config") -> Optional[ConfigFile]:
        """The parsed file at ``path``, or None when there is none."""
        try:
            stamp = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return None
        except OSError as error:
            raise ConfigError("cannot be read: %s" % (error.strerror or error),
                              path) from None
        cached = self._files.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        parsed = read_config_file(path, what)
        self._files[path] = (stamp, parsed)
        self._merged.clear()
        return parsed


# -- attribute readers --------------------------------------------------------

def _boolean(path, element, name, default):
    text = element.get(name)
    if text is None:
        return default
    value = text.strip().casefold()
    if value not in ("true", "false"):
        raise _error(path, element, "%s=%r is not true or false"
                     % (name, text))
    return value == "true"


def _integer(path, element, name, default, low, high, what=""):
    text = element.get(name)
    if text is None:
        return default
    if not text.strip().isdigit():
        raise _error(path, element, "%s=%r%s is not a whole number"
                     % (name, text, what))
    number = int(text.strip())
    if not low <= number <= high:
        raise _error(path, element, "%s=%d%s is outside %d-%d"
                     % (name, number, what, low, high))
    return number


def _choice(path, element, name, default, choices):
    text = element.get(name)
    if text is None:
        return default
    for choice in choices:
        if choice.casefold() == text.strip().casefold():
            return choice
    raise _error(path, element, "%s=%r is not one of %s"
                 % (name, text, ", ".join(choices)))


def _required(path, element, name, what):
    value = element.get(name)
    if value is None or not value.strip():
        raise _error(path, element, "%s has no %s attribute: every entry"
                     " of this collection needs one" % (what, name))
    return value


class _Collection:
    """An IIS collection: entries in order, keyed in any case."""

    def __init__(self, entries=(), merge_append=True):
        self.entries = dict(entries)     # folded key -> value
        self.merge_append = merge_append

    def copy(self):
        return _Collection(self.entries, self.merge_append)

    def apply(self, path, section, key_of, make, what, add_tag="add"):
        """Apply the ``<add>`` (``add_tag``), ``<remove>`` and ``<clear/>``
        of one level's ``section``.  ``key_of(element)`` is an entry's key,
        ``make(element)`` its value."""
        added = {}
        for element in section:
            if element.tag == "clear":
                self.entries.clear()
                added.clear()
            elif element.tag == "remove":
                key = key_of(element)
                self.entries.pop(key, None)
                added.pop(key, None)
            elif element.tag == add_tag:
                key = key_of(element)
                if key in self.entries or key in added:
                    shown = "|".join(key) if isinstance(key, tuple) \
                        else key
                    raise _error(path, element, "cannot add a duplicate"
                                 " %s %r: one with the same key (compared in"
                                 " any case) is already in effect here (IIS"
                                 " answers 500.19); put a <remove> of it"
                                 " first, or drop this one" % (what, shown))
                added[key] = make(element)
        if self.merge_append:
            self.entries.update(added)
        else:
            added.update(self.entries)
            self.entries = added

    def values(self):
        return list(self.entries.values())


# -- sections -----------------------------------------------------------------

def application_key(full_path: str, arguments: str = "") -> str:
    """The key of a ``<fastCgi><application>``: fullPath and arguments,
    compared as IIS compares them (in any case)."""
    return (full_path + "|" + (arguments or "")).casefold()


@dataclass
class Handler:
    """One ``<handlers><add>``."""
    name: str
    path: str = "*"
    verbs: Tuple[str, ...] = ("*",)
    module: str = ""
    script_processor: str = ""
    response_buffer_limit: int = DEFAULT_RESPONSE_BUFFER_LIMIT
    resource_type: str = "Unspecified"
    require_access: str = "Script"
    attributes: dict = field(default_factory=dict)   # as written
    source: str = ""
    line: int = 0
    column: int = 0

    @property
    def modules(self) -> str:
        return self.module

    @property
    def is_fastcgi(self) -> bool:
        return "fastcgimodule" in self.module.casefold()

    @property
    def full_path(self) -> str:
        return self.script_processor.partition("|")[0]

    @property
    def arguments(self) -> str:
        return self.script_processor.partition("|")[2]

    @property
    def key(self) -> str:
        """``fullPath|arguments`` of the FastCGI application it names, in
        any case: "C:\\php\\php-cgi.exe" without "|" names the one with no
        arguments."""
        return application_key(self.full_path, self.arguments)

    def matches(self, method: str, relative: str) -> bool:
        """Whether this handler takes ``method`` on ``relative`` (the path
        under the application, without its leading slash)."""
        if "*" not in self.verbs and method.upper() not in self.verbs:
            return False
        pattern = self.path.casefold()
        if "/" in pattern:
            return fnmatchcase(relative.casefold(), pattern.lstrip("/"))
        return fnmatchcase(relative.rpartition("/")[2].casefold(), pattern)

    @classmethod
    def from_element(cls, element, source: str) -> "Handler":
        name = element.get("name", "")
        what = " for handler %r" % name
        limit = _integer(source, element, "responseBufferLimit",
                         DEFAULT_RESPONSE_BUFFER_LIMIT, 0, _UINT_MAX, what)
        verbs = tuple(verb.strip().upper() for verb in
                      element.get("verb", "*").split(",") if verb.strip())
        return cls(name, element.get("path", "*"), verbs or ("*",),
                   element.get("modules", ""),
                   element.get("scriptProcessor", ""), limit,
                   _choice(source, element, "resourceType", "Unspecified",
                           _RESOURCE_TYPES),
                   element.get("requireAccess", "Script"),
                   dict(element.attrib), source,
                   getattr(element, "line", 0), getattr(element, "column", 0))


@dataclass
class FastCgiApplication:
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
    attributes: dict = field(default_factory=dict)   # the others, as written
    line: int = 0
    column: int = 0

    @property
    def key(self) -> str:
        """The pool key: ``fullPath|arguments``, in any case."""
        return application_key(self.full_path, self.arguments)

    @property
    def script_processor(self) -> str:
        return self.full_path + "|" + self.arguments

    @classmethod
    def from_element(cls, element, source: str) -> "FastCgiApplication":
        full_path = element.get("fullPath", "")
        if not full_path.strip():
            raise _error(source, element, "a <fastCgi><application> has no"
                         " fullPath: give the interpreter's full path")
        what = " for %s" % full_path
        values = {}
        for attribute, (name, default, low, high) in _INTEGERS.items():
            number = _integer(source, element, attribute, None, low, high,
                              what)
            if number is None:
                continue
            if attribute == "maxInstances" and number == 0:
                number = AUTOMATIC_INSTANCES
            values[name] = number
        mode = element.get("stderrMode")
        if mode is not None:
            if mode not in STDERR_MODES:
                raise _error(source, element, "stderrMode=%r%s is not one"
                             " of %s" % (mode, what, ", ".join(STDERR_MODES)))
            values["stderr_mode"] = mode
        attributes = dict(element.attrib)
        attributes.pop("fullPath", None)
        arguments = attributes.pop("arguments", "")
        return cls(full_path, arguments,
                   environment_variables=read_environment_variables(
                       element, source),
                   source=source, attributes=attributes,
                   line=getattr(element, "line", 0),
                   column=getattr(element, "column", 0), **values)


def read_environment_variables(application, source: str,
                               inherited: Optional[dict] = None) -> dict:
    """The ``environmentVariables`` of a ``<fastCgi><application>``
    element, by name in any case, with ``<remove>`` and ``<clear/>``."""
    collection = _Collection(((name.casefold(), (name, value)) for
                              name, value in (inherited or {}).items()))
    for section in application.findall("environmentVariables"):
        collection.apply(source, section, lambda element: _required(
            source, element, "name", "an <environmentVariable>").casefold(),
            lambda element: (element.get("name"), element.get("value", "")),
            "environment variable", "environmentVariable")
    return dict(collection.values())


def _fastcgi_key(source):
    def key(element):
        return (_required(source, element, "fullPath", "a <fastCgi>"
                          " <application>").casefold(),
                element.get("arguments", "").casefold())
    return key


def read_fastcgi_applications(section, source: str,
                              inherited: Sequence[FastCgiApplication] = ()
                              ) -> List[FastCgiApplication]:
    """The applications of a ``system.webServer/fastCgi`` element (on top
    of ``inherited``)."""
    collection = _Collection(((application.full_path.casefold(),
                               application.arguments.casefold()), application)
                             for application in inherited)
    collection.apply(source, section, _fastcgi_key(source),
                     lambda element: FastCgiApplication.from_element(
                         element, source), "<fastCgi><application>",
                     "application")
    return collection.values()


@dataclass
class RequestFiltering:
    """``system.webServer/security/requestFiltering``."""
    allow_double_escaping: bool = False
    allow_unlisted_extensions: bool = True
    file_extensions: dict = field(default_factory=lambda: {
        extension.casefold(): False
        for extension in DEFAULT_DENIED_EXTENSIONS})   # folded -> allowed
    hidden_segments: tuple = tuple(segment.casefold() for segment in
                                   DEFAULT_HIDDEN_SEGMENTS)
    max_allowed_content_length: int = DEFAULT_MAX_ALLOWED_CONTENT_LENGTH

    def extension_allowed(self, relative: str) -> bool:
        """Whether fileExtensions lets ``relative`` through (an URL without
        an extension is the entry ".")."""
        name = relative.rstrip("/").rpartition("/")[2]
        extension = "." + name.rpartition(".")[2] if "." in name else "."
        allowed = self.file_extensions.get(extension.casefold())
        if allowed is None:
            return self.allow_unlisted_extensions
        return allowed

    def hidden_segment(self, relative: str) -> Optional[str]:
        """The first segment of ``relative`` that hiddenSegments hides."""
        for part in relative.split("/"):
            if part.casefold() in self.hidden_segments:
                return part
        return None


@dataclass
class StaticContent:
    """``system.webServer/staticContent``: the MIME map."""
    mime_map: dict = field(default_factory=lambda: {
        extension.casefold(): kind
        for extension, kind in DEFAULT_MIME_MAP.items()})

    def mime_type(self, name: str) -> Optional[str]:
        """The Content-Type for a file ``name``, or None when its extension
        is not in the map (IIS answers 404.3)."""
        base = name.rpartition("/")[2]
        if "." not in base:
            return None
        return self.mime_map.get(("." + base.rpartition(".")[2]).casefold())


@dataclass
class Configuration:
    """The effective configuration of one path, and the files it came
    from."""
    files: List[str] = field(default_factory=list)
    app_settings: Dict[str, str] = field(default_factory=dict)
    handlers: List[Handler] = field(default_factory=list)
    fastcgi_applications: List[FastCgiApplication] = field(
        default_factory=list)
    request_filtering: RequestFiltering = field(
        default_factory=RequestFiltering)
    static_content: StaticContent = field(default_factory=StaticContent)

    @property
    def fastcgi_handlers(self) -> List[Handler]:
        return [handler for handler in self.handlers if handler.is_fastcgi]

    def application_for(self, handler: Handler
                        ) -> Optional[FastCgiApplication]:
        """The ``<fastCgi><application>`` a handler names, or None."""
        for application in self.fastcgi_applications:
            if application.key == handler.key:
                return application
        return None


# -- merging ------------------------------------------------------------------

class _Merger:
    def __init__(self):
        self.files = []
        self.settings = _Collection()
        self.handlers = _Collection(merge_append=False)
        self.fastcgi = []
        self.filtering = RequestFiltering()
        self.extensions = _Collection(self.filtering.file_extensions)
        self.hidden = _Collection((segment, segment) for segment in
                                  self.filtering.hidden_segments)
        self.mime = _Collection(StaticContent().mime_map)

    def scope(self, path, element):
        for section in element.findall("appSettings"):
            self.app_settings(path, section)
        for server in element.findall("system.webServer"):
            self.web_server(path, server)

    def app_settings(self, path, section):
        source = section.get("configSource")
        if source:
            if len(section):
                raise _error(path, section, "an <appSettings"
                             " configSource=...> cannot hold entries of its"
                             " own: move them to %s" % source)
            external = self._external(path, section, source, required=True)
            self._settings(external.path, external.root)
            return
        self._settings(path, section)
        name = section.get("file")
        if name:
            external = self._external(path, section, name, required=False)
            if external is not None:
                self._settings(external.path, external.root)

    def _external(self, path, section, name, required):
        full = os.path.join(os.path.dirname(path), name.replace(
            "\\", os.sep))
        if not os.path.isfile(full):
            if required:
                raise _error(path, section, "the configSource file %s is not"
                             " there: create it or drop configSource" % full)
            log.info("%s: <appSettings file=%r>: %s is not there (as in"
                     " ASP.NET, that is no error)", path, name, full)
            return None
        try:
            root = safexml.parse_file(full)
        except OSError as error:
            raise ConfigError("cannot be read: %s" % (
                error.strerror or error), full) from None
        except safexml.XMLError as error:
            raise _xml_error(error, "file named by <appSettings>") from None
        if root.tag != "appSettings":
            raise _error(full, root, "the root element is <%s>, not"
                         " <appSettings>: a file named by <appSettings"
                         " file=...> holds one <appSettings>" % root.tag)
        self.files.append(full)
        return ConfigFile(full, root, [])

    def _settings(self, path, section):
        # ASP.NET's rule: a later <add> of a key replaces the earlier one.
        for entry in section:
            if entry.tag == "clear":
                self.settings.entries.clear()
            elif entry.tag in ("add", "remove"):
                key = entry.get("key")
                if key is None:
                    raise _error(path, entry, "an <appSettings><%s> has no"
                                 " key attribute: give it one" % entry.tag)
                if entry.tag == "add":
                    self.settings.entries.pop(key.casefold(), None)
                    self.settings.entries[key.casefold()] = (
                        key, entry.get("value", ""))
                else:
                    self.settings.entries.pop(key.casefold(), None)

    def web_server(self, path, server):
        for section in server.findall("handlers"):
            self.handlers.apply(
                path, section, lambda element: _required(
                    path, element, "name", "a <handlers> entry").casefold(),
                lambda element: Handler.from_element(element, path),
                "handler")
        for section in server.findall("fastCgi"):
            self.fastcgi = read_fastcgi_applications(section, path,
                                                     self.fastcgi)
        for section in server.findall("security/requestFiltering"):
            self.request_filtering(path, section)
        for section in server.findall("staticContent"):
            self.mime.apply(path, section,
                            lambda element: _required(
                                path, element, "fileExtension",
                                "a <mimeMap>").strip().casefold(),
                            lambda element: _required(
                                path, element, "mimeType", "a <mimeMap>"),
                            "<mimeMap>", "mimeMap")

    def request_filtering(self, path, section):
        filtering = self.filtering
        filtering.allow_double_escaping = _boolean(
            path, section, "allowDoubleEscaping",
            filtering.allow_double_escaping)
        for extensions in section.findall("fileExtensions"):
            filtering.allow_unlisted_extensions = _boolean(
                path, extensions, "allowUnlisted",
                filtering.allow_unlisted_extensions)
            self.extensions.apply(
                path, extensions, lambda element: _required(
                    path, element, "fileExtension",
                    "a <fileExtensions> entry").strip().casefold(),
                lambda element: _boolean(path, element, "allowed", True),
                "<fileExtensions> entry")
        for segments in section.findall("hiddenSegments"):
            self.hidden.apply(
                path, segments, lambda element: _required(
                    path, element, "segment",
                    "a <hiddenSegments> entry").strip().casefold(),
                lambda element: element.get("segment").strip().casefold(),
                "hidden segment")
        for limits in section.findall("requestLimits"):
            filtering.max_allowed_content_length = _integer(
                path, limits, "maxAllowedContentLength",
                filtering.max_allowed_content_length, 0, _UINT_MAX)

    def result(self):
        filtering = self.filtering
        filtering.file_extensions = dict(self.extensions.entries)
        filtering.hidden_segments = tuple(self.hidden.values())
        return Configuration(
            self.files, dict(self.settings.values()), self.handlers.values(),
            list(self.fastcgi), filtering,
            StaticContent(dict(self.mime.entries)))


def _applicable(levels, child_application_levels=0):
    """(path, Scope) for every scope of ``levels`` that applies, in the
    order they apply."""
    return [(config_file.path, scope)
            for index, (config_file, relative) in enumerate(levels)
            for scope in config_file.scopes_for(
                relative, index < child_application_levels)]


def _merge(paths, scopes):
    merger = _Merger()
    merger.files.extend(paths)
    for path, scope in scopes:
        merger.scope(path, scope.element)
    return merger.result()


def merge(levels: Iterable[Tuple[ConfigFile, str]],
          child_application_levels: int = 0) -> Configuration:
    """The effective configuration from ``levels``, outermost first: each
    a (ConfigFile, the requested path relative to that file's folder).  The
    first ``child_application_levels`` belong to parent applications, where
    inheritInChildApplications="false" scopes do not apply."""
    levels = list(levels)
    return _merge([config_file.path for config_file, _ in levels],
                  _applicable(levels, child_application_levels))


def configuration_for(app_dir: str, relative: str = "",
                      cache: Optional[ConfigCache] = None) -> Configuration:
    """The effective configuration of ``relative`` (a "/"-separated path
    under the application, without a leading slash) in the application
    whose folder is ``app_dir``: its web.config, then each sub-folder's on
    the way to the folder of ``relative``'s last segment."""
    cache = cache or ConfigCache()
    levels = []
    parts = [part for part in relative.split("/") if part]
    folder = app_dir
    for index in range(len(parts) + 1):
        if index:
            folder = os.path.join(folder, parts[index - 1])
            # The last segment is a file, or a folder with its own.
            if not os.path.isdir(folder):
                break
        path = find_web_config(folder)
        config_file = cache.read(path) if path else None
        if config_file is not None:
            levels.append((config_file, "/".join(parts[index:])))
    return cache.merge(levels)


def read_web_config(path: str, relative: str = "") -> Configuration:
    """The effective configuration of the one web.config at ``path`` for
    ``relative`` under its folder ("" for the folder itself)."""
    return merge([(read_config_file(path), relative)])


def read_app_settings(path: str) -> Dict[str, str]:
    """The ``<appSettings>`` in effect for the folder of the web.config at
    ``path``: keys in any case, the last ``<add>`` winning, ``<remove>``,
    ``<clear/>``, ``<location path="">`` and ``file=`` honoured; entries
    of ``<location path="sub">`` apply to that sub-path only."""
    return read_web_config(path).app_settings


def app_settings(app_dir: str) -> Tuple[Optional[str], Dict[str, str]]:
    """(the web.config of ``app_dir`` or None, its appSettings)."""
    path = find_web_config(app_dir)
    if path is None:
        return None, {}
    return path, read_app_settings(path)
