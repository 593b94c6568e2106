"""The sections iiswsgi reads, one class each: ``<handlers>`` entries
(:class:`Handler`), ``<fastCgi><application>`` (:class:`FastCgiApplication`,
with its ``environmentVariables``), ``security/requestFiltering``
(:class:`RequestFiltering`), ``staticContent`` (:class:`StaticContent`),
and the effective :class:`Configuration` of one path that holds them."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import (Any, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Tuple, TypeVar, Union)

from ... import safexml
from ...records import Record
from .attributes import choice, integer, required
from .collection import Collection
from ..cmdline import split_command_line
from .defaults import (AUTOMATIC_INSTANCES, DEFAULT_DENIED_EXTENSIONS,
                       DEFAULT_HIDDEN_SEGMENTS,
                       DEFAULT_MAX_ALLOWED_CONTENT_LENGTH,
                       DEFAULT_MAX_QUERY_STRING, DEFAULT_MAX_URL,
                       DEFAULT_MIME_MAP, DEFAULT_RESPONSE_BUFFER_LIMIT, FASTCGI_INTEGERS,
                       RESOURCE_TYPES, STDERR_MODES, UINT_MAX)
from .errors import error_at

__all__ = ["Configuration", "FastCgiApplication", "Handler",
           "RequestFiltering", "StaticContent", "application_key",
           "application_name",
           "fastcgi_handlers", "find_application",
           "read_environment_variables", "read_fastcgi_applications",
           "script_processor"]


def application_name(full_path: str, arguments: str = "") -> str:
    """``fullPath|arguments``: how a ``<fastCgi><application>`` is named
    in messages (always with the "|", so that no arguments shows)."""
    return full_path + "|" + (arguments or "")


def application_key(full_path: str, arguments: str = "") -> str:
    """The key of a ``<fastCgi><application>``: fullPath and arguments,
    compared as IIS compares them (in any case)."""
    return application_name(full_path, arguments).casefold()


def script_processor(full_path: str, arguments: Optional[str] = "") -> str:
    """The scriptProcessor a handler writes to name the FastCGI application
    ``full_path`` with ``arguments``: ``fullPath|arguments``, or fullPath
    alone when there are no arguments (IIS reads a scriptProcessor without
    "|" as the application with no arguments, and IIS Manager writes it
    so)."""
    return "%s|%s" % (full_path, arguments) if arguments else full_path


_App = TypeVar("_App")


def _command_line(full_path: str, arguments: str) -> List[str]:
    return [full_path] + split_command_line(arguments)


def _key_of(application: Union["FastCgiApplication", Mapping[str, Any]]
            ) -> str:
    if isinstance(application, FastCgiApplication):
        return application.key
    return application_key(application.get("fullPath", ""),
                           application.get("arguments", ""))


def find_application(applications: Iterable[_App],
                     handler: Union["Handler", str],
                     arguments: Optional[str] = None
                     ) -> Optional[_App]:
    """The first of ``applications`` (FastCgiApplication objects, or dicts
    with "fullPath" and "arguments" as appcmd lists them) that ``handler``
    names, keyed as IIS keys them (fullPath|arguments, in any case); or
    None.  ``handler`` is a Handler, or a fullPath given with
    ``arguments``."""
    if isinstance(handler, Handler):
        key = handler.key
    else:
        key = application_key(handler, arguments or "")
    for application in applications:
        if _key_of(application) == key:
            return application
    return None


def fastcgi_handlers(handlers: Iterable["Handler"]) -> List["Handler"]:
    """The handlers that hand their requests to a FastCGI application."""
    return [handler for handler in handlers if handler.is_fastcgi]


class Handler(Record):
    """One ``<handlers><add>``."""

    __slots__ = ("name", "path", "verbs", "module", "script_processor",
                 "response_buffer_limit", "resource_type", "require_access",
                 "attributes", "source", "line", "column")
    name: str
    path: str
    verbs: Tuple[str, ...]
    module: str
    script_processor: str
    response_buffer_limit: int
    resource_type: str
    require_access: str
    attributes: dict   # as written
    source: str
    line: int
    column: int

    def __init__(self, name: str, path: str = "*",
                 verbs: Tuple[str, ...] = ("*",), module: str = "",
                 script_processor: str = "",
                 response_buffer_limit: int = DEFAULT_RESPONSE_BUFFER_LIMIT,
                 resource_type: str = "Unspecified",
                 require_access: str = "Script",
                 attributes: Optional[dict] = None, source: str = "",
                 line: int = 0, column: int = 0) -> None:
        self.name = name
        self.path = path
        self.verbs = verbs
        self.module = module
        self.script_processor = script_processor
        self.response_buffer_limit = response_buffer_limit
        self.resource_type = resource_type
        self.require_access = require_access
        self.attributes = {} if attributes is None else attributes
        self.source = source
        self.line = line
        self.column = column

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

    @property
    def argv(self) -> List[str]:
        """The command line of the process it names: fullPath, then its
        arguments split as Windows splits them."""
        return _command_line(self.full_path, self.arguments)

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
    def from_element(cls, element: safexml.Element,
                     source: str) -> "Handler":
        """The handler an ``<add>`` of ``<handlers>`` in ``source``
        describes."""
        name = element.get("name", "")
        what = " for handler %r" % name
        limit = integer(source, element, "responseBufferLimit",
                        DEFAULT_RESPONSE_BUFFER_LIMIT, 0, UINT_MAX, what)
        verbs = tuple(verb.strip().upper() for verb in
                      element.get("verb", "*").split(",") if verb.strip())
        return cls(name, element.get("path", "*"), verbs or ("*",),
                   element.get("modules", ""),
                   element.get("scriptProcessor", ""), limit,
                   choice(source, element, "resourceType", "Unspecified",
                          RESOURCE_TYPES),
                   element.get("requireAccess", "Script"),
                   dict(element.attrib), source,
                   getattr(element, "line", 0), getattr(element, "column", 0))


class FastCgiApplication(Record):
    """One ``<fastCgi><application>``: the process and its pool."""

    __slots__ = ("full_path", "arguments", "max_instances",
                 "instance_max_requests", "activity_timeout",
                 "request_timeout", "idle_timeout", "queue_length",
                 "signal_before_terminate_seconds", "stderr_mode",
                 "environment_variables", "source", "attributes", "line",
                 "column")
    full_path: str
    arguments: str
    max_instances: int
    instance_max_requests: int
    activity_timeout: int
    request_timeout: int
    idle_timeout: int
    queue_length: int
    signal_before_terminate_seconds: int
    stderr_mode: str
    environment_variables: dict
    source: str
    attributes: dict   # the others, as written
    line: int
    column: int

    def __init__(self, full_path: str, arguments: str = "",
                 max_instances: int = AUTOMATIC_INSTANCES,
                 instance_max_requests: int = 200,
                 activity_timeout: int = 70, request_timeout: int = 90,
                 idle_timeout: int = 300, queue_length: int = 1000,
                 signal_before_terminate_seconds: int = 0,
                 stderr_mode: str = "ReturnStdErrIn500",
                 environment_variables: Optional[dict] = None,
                 source: str = "defaults", attributes: Optional[dict] = None,
                 line: int = 0, column: int = 0) -> None:
        self.full_path = full_path
        self.arguments = arguments
        self.max_instances = max_instances
        self.instance_max_requests = instance_max_requests
        self.activity_timeout = activity_timeout
        self.request_timeout = request_timeout
        self.idle_timeout = idle_timeout
        self.queue_length = queue_length
        self.signal_before_terminate_seconds = signal_before_terminate_seconds
        self.stderr_mode = stderr_mode
        self.environment_variables = ({} if environment_variables is None
                                      else environment_variables)
        self.source = source
        self.attributes = {} if attributes is None else attributes
        self.line = line
        self.column = column

    @property
    def key(self) -> str:
        """The pool key: ``fullPath|arguments``, in any case."""
        return application_key(self.full_path, self.arguments)

    @property
    def script_processor(self) -> str:
        """The scriptProcessor of a handler that names it."""
        return script_processor(self.full_path, self.arguments)

    @property
    def argv(self) -> List[str]:
        """Its process's command line: fullPath, then its arguments split
        as Windows splits them."""
        return _command_line(self.full_path, self.arguments)

    @classmethod
    def from_element(cls, element: safexml.Element,
                     source: str) -> "FastCgiApplication":
        """The application a ``<fastCgi><application>`` in ``source``
        describes; ConfigError for a value IIS would refuse."""
        full_path = element.get("fullPath", "")
        if not full_path.strip():
            raise error_at(source, element, "a <fastCgi><application> has"
                           " no fullPath: give the interpreter's full path")
        what = " for %s" % full_path
        values = {}
        for attribute, (name, default, low, high) in FASTCGI_INTEGERS.items():
            number = integer(source, element, attribute, None, low, high,
                             what)
            if number is None:
                continue
            if attribute == "maxInstances" and number == 0:
                number = AUTOMATIC_INSTANCES
            values[name] = number
        mode = element.get("stderrMode")
        if mode is not None:
            if mode not in STDERR_MODES:
                raise error_at(source, element, "stderrMode=%r%s is not"
                               " one of %s"
                               % (mode, what, ", ".join(STDERR_MODES)))
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


def read_environment_variables(application: safexml.Element, source: str,
                               inherited: Optional[Dict[str, str]] = None
                               ) -> Dict[str, str]:
    """The ``environmentVariables`` of a ``<fastCgi><application>``
    element, by name in any case, with ``<remove>`` and ``<clear/>``."""
    collection = Collection(((name.casefold(), (name, value)) for
                             name, value in (inherited or {}).items()))
    for section in application.findall("environmentVariables"):
        collection.apply(source, section, lambda element: required(
            source, element, "name", "an <environmentVariable>").casefold(),
            lambda element: (element.get("name"), element.get("value", "")),
            "environment variable", "environmentVariable")
    return dict(collection.values())


def _fastcgi_key(source):
    def key(element):
        return application_key(required(source, element, "fullPath",
                                        "a <fastCgi> <application>"),
                               element.get("arguments", ""))
    return key


def read_fastcgi_applications(section: safexml.Element, source: str,
                              inherited: Sequence[FastCgiApplication] = ()
                              ) -> List[FastCgiApplication]:
    """The applications of a ``system.webServer/fastCgi`` element (on top
    of ``inherited``)."""
    collection = Collection((application.key, application)
                            for application in inherited)
    collection.apply(source, section, _fastcgi_key(source),
                     lambda element: FastCgiApplication.from_element(
                         element, source), "<fastCgi><application>",
                     "application")
    return collection.values()


_HIDDEN_SEGMENTS = tuple(segment.casefold() for segment in
                         DEFAULT_HIDDEN_SEGMENTS)


class RequestFiltering(Record):
    """``system.webServer/security/requestFiltering``."""

    __slots__ = ("allow_double_escaping", "allow_unlisted_extensions",
                 "file_extensions", "hidden_segments",
                 "max_allowed_content_length", "max_url", "max_query_string",
                 "deny_url_sequences")
    allow_double_escaping: bool
    allow_unlisted_extensions: bool
    file_extensions: dict   # folded -> allowed
    hidden_segments: tuple
    max_allowed_content_length: int
    max_url: int
    max_query_string: int
    deny_url_sequences: tuple          # folded

    def __init__(self, allow_double_escaping: bool = False,
                 allow_unlisted_extensions: bool = True,
                 file_extensions: Optional[dict] = None,
                 hidden_segments: tuple = _HIDDEN_SEGMENTS,
                 max_allowed_content_length: int =
                 DEFAULT_MAX_ALLOWED_CONTENT_LENGTH,
                 max_url: int = DEFAULT_MAX_URL,
                 max_query_string: int = DEFAULT_MAX_QUERY_STRING,
                 deny_url_sequences: tuple = ()) -> None:
        self.allow_double_escaping = allow_double_escaping
        self.allow_unlisted_extensions = allow_unlisted_extensions
        self.file_extensions = {
            extension.casefold(): False
            for extension in DEFAULT_DENIED_EXTENSIONS
        } if file_extensions is None else file_extensions
        self.hidden_segments = hidden_segments
        self.max_allowed_content_length = max_allowed_content_length
        self.max_url = max_url
        self.max_query_string = max_query_string
        self.deny_url_sequences = deny_url_sequences

    def denied_sequence(self, *urls: str) -> Optional[str]:
        """The first denyUrlSequences entry in any of ``urls`` (compared
        in any case), or None."""
        for url in urls:
            folded = url.casefold()
            for sequence in self.deny_url_sequences:
                if sequence and sequence in folded:
                    return sequence
        return None

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


class StaticContent(Record):
    """``system.webServer/staticContent``: the MIME map."""

    __slots__ = ("mime_map",)
    mime_map: dict

    def __init__(self, mime_map: Optional[dict] = None) -> None:
        self.mime_map = {
            extension.casefold(): kind
            for extension, kind in DEFAULT_MIME_MAP.items()
        } if mime_map is None else mime_map

    def mime_type(self, name: str) -> Optional[str]:
        """The Content-Type for a file ``name``, or None when its extension
        is not in the map (IIS answers 404.3)."""
        base = name.rpartition("/")[2]
        if "." not in base:
            return None
        return self.mime_map.get(("." + base.rpartition(".")[2]).casefold())


class Configuration(Record):
    """The effective configuration of one path, and the files it came
    from."""

    __slots__ = ("files", "app_settings", "handlers", "fastcgi_applications",
                 "request_filtering", "static_content")
    files: List[str]
    app_settings: Dict[str, str]
    handlers: List[Handler]
    fastcgi_applications: List[FastCgiApplication]
    request_filtering: RequestFiltering
    static_content: StaticContent

    def __init__(self, files: Optional[List[str]] = None,
                 app_settings: Optional[Dict[str, str]] = None,
                 handlers: Optional[List[Handler]] = None,
                 fastcgi_applications: Optional[
                     List[FastCgiApplication]] = None,
                 request_filtering: Optional[RequestFiltering] = None,
                 static_content: Optional[StaticContent] = None) -> None:
        self.files = [] if files is None else files
        self.app_settings = {} if app_settings is None else app_settings
        self.handlers = [] if handlers is None else handlers
        self.fastcgi_applications = ([] if fastcgi_applications is None
                                     else fastcgi_applications)
        self.request_filtering = (RequestFiltering()
                                  if request_filtering is None
                                  else request_filtering)
        self.static_content = (StaticContent() if static_content is None
                               else static_content)

    @property
    def fastcgi_handlers(self) -> List[Handler]:
        return fastcgi_handlers(self.handlers)

    def application_for(self, handler: Handler
                        ) -> Optional[FastCgiApplication]:
        """The ``<fastCgi><application>`` a handler names, or None."""
        return find_application(self.fastcgi_applications, handler)
