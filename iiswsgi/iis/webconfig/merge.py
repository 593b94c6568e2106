"""Merging: the effective :class:`~.sections.Configuration` of a path from
the scopes that apply to it, outermost first.

- ``appSettings``: keyed by ``key`` in any case, the last ``<add>`` wins
  (ASP.NET's rule); ``<remove>``, ``<clear/>``, ``file=`` and
  ``configSource=`` honoured;
- ``system.webServer/handlers``: keyed by ``name``; a level's entries come
  before the ones it inherits (the collection is not mergeAppend);
- ``system.webServer/fastCgi/application``: keyed by fullPath and
  arguments in any case, with its ``environmentVariables`` (by name);
- ``system.webServer/security/requestFiltering``: allowDoubleEscaping,
  fileExtensions (allowUnlisted, by fileExtension), hiddenSegments (by
  segment), denyUrlSequences (by sequence), requestLimits'
  maxAllowedContentLength, maxUrl and maxQueryString, on top of the defaults
  of IIS's own applicationHost.config;
- ``system.webServer/staticContent``: mimeMap by fileExtension, on top of
  IIS's default MIME map unless ``<clear/>``.
"""

import logging
import os
from typing import Dict, Iterable, Optional, Tuple

from .attributes import boolean, integer, required
from .collection import Collection
from .defaults import UINT_MAX
from .errors import error_at
from .files import (ConfigFile, Scope, applicable_scopes, find_web_config,
                    parse_root, read_config_file)
from .sections import (Configuration, Handler, RequestFiltering,
                       StaticContent, read_fastcgi_applications)

__all__ = ["app_settings", "merge", "merge_scopes", "read_app_settings",
           "read_web_config"]

log = logging.getLogger("iiswsgi.iis.webconfig.merge")


class _Merger:
    def __init__(self):
        self.files = []
        self.settings = Collection()
        self.handlers = Collection(merge_append=False)
        self.fastcgi = []
        self.filtering = RequestFiltering()
        self.extensions = Collection(self.filtering.file_extensions)
        self.hidden = Collection((segment, segment) for segment in
                                 self.filtering.hidden_segments)
        self.sequences = Collection()
        self.mime = Collection(StaticContent().mime_map)

    def scope(self, path, element):
        for section in element.findall("appSettings"):
            self.app_settings(path, section)
        for server in element.findall("system.webServer"):
            self.web_server(path, server)

    def app_settings(self, path, section):
        source = section.get("configSource")
        if source:
            if len(section):
                raise error_at(path, section, "an <appSettings"
                               " configSource=...> cannot hold entries of its"
                               " own: move them to %s" % source)
            external = self._external(path, section, source, must_exist=True)
            self._settings(external.path, external.root)
            return
        self._settings(path, section)
        name = section.get("file")
        if name:
            external = self._external(path, section, name, must_exist=False)
            if external is not None:
                self._settings(external.path, external.root)

    def _external(self, path, section, name, must_exist):
        full = os.path.join(os.path.dirname(path), name.replace(
            "\\", os.sep))
        if not os.path.isfile(full):
            if must_exist:
                raise error_at(path, section, "the configSource file %s is"
                               " not there: create it or drop configSource"
                               % full)
            log.info("%s: <appSettings file=%r>: %s is not there (as in"
                     " ASP.NET, that is no error)", path, name, full)
            return None
        root = parse_root(full, "appSettings",
                          "file named by <appSettings file=...>")
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
                    raise error_at(path, entry, "an <appSettings><%s> has"
                                   " no key attribute: give it one"
                                   % entry.tag)
                if entry.tag == "add":
                    self.settings.entries.pop(key.casefold(), None)
                    self.settings.entries[key.casefold()] = (
                        key, entry.get("value", ""))
                else:
                    self.settings.entries.pop(key.casefold(), None)

    def web_server(self, path, server):
        for section in server.findall("handlers"):
            self.handlers.apply(
                path, section, lambda element: required(
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
                            lambda element: required(
                                path, element, "fileExtension",
                                "a <mimeMap>").strip().casefold(),
                            lambda element: required(
                                path, element, "mimeType", "a <mimeMap>"),
                            "<mimeMap>", "mimeMap")

    def request_filtering(self, path, section):
        filtering = self.filtering
        filtering.allow_double_escaping = boolean(
            path, section, "allowDoubleEscaping",
            filtering.allow_double_escaping)
        for extensions in section.findall("fileExtensions"):
            filtering.allow_unlisted_extensions = boolean(
                path, extensions, "allowUnlisted",
                filtering.allow_unlisted_extensions)
            self.extensions.apply(
                path, extensions, lambda element: required(
                    path, element, "fileExtension",
                    "a <fileExtensions> entry").strip().casefold(),
                lambda element: boolean(path, element, "allowed", True),
                "<fileExtensions> entry")
        for segments in section.findall("hiddenSegments"):
            self.hidden.apply(
                path, segments, lambda element: required(
                    path, element, "segment",
                    "a <hiddenSegments> entry").strip().casefold(),
                lambda element: element.get("segment").strip().casefold(),
                "hidden segment")
        for sequences in section.findall("denyUrlSequences"):
            self.sequences.apply(
                path, sequences, lambda element: required(
                    path, element, "sequence",
                    "a <denyUrlSequences> entry").casefold(),
                lambda element: element.get("sequence").casefold(),
                "denied URL sequence")
        for limits in section.findall("requestLimits"):
            filtering.max_allowed_content_length = integer(
                path, limits, "maxAllowedContentLength",
                filtering.max_allowed_content_length, 0, UINT_MAX)
            filtering.max_url = integer(path, limits, "maxUrl",
                                        filtering.max_url, 0, UINT_MAX)
            filtering.max_query_string = integer(
                path, limits, "maxQueryString", filtering.max_query_string,
                0, UINT_MAX)

    def result(self):
        filtering = self.filtering
        filtering.file_extensions = dict(self.extensions.entries)
        filtering.hidden_segments = tuple(self.hidden.values())
        filtering.deny_url_sequences = tuple(self.sequences.values())
        return Configuration(
            self.files, dict(self.settings.values()), self.handlers.values(),
            list(self.fastcgi), filtering,
            StaticContent(dict(self.mime.entries)))


def merge_scopes(paths: Iterable[str],
                 scopes: Iterable[Tuple[str, Scope]]) -> Configuration:
    """The effective configuration from ``scopes`` ((path of its file,
    Scope), in the order they apply), coming from the files ``paths``."""
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
    return merge_scopes([config_file.path for config_file, _ in levels],
                        applicable_scopes(levels, child_application_levels))


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