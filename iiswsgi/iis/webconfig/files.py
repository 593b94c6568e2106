"""Configuration files: finding a folder's web.config, parsing a file once
into its *scopes* (the sections directly under ``<configuration>`` and
those of each ``<location path=...>``), and choosing the scopes that apply
to a path."""

from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple

from ... import safexml
from ...records import Record
from ..paths import split_under
from .attributes import boolean
from .errors import ConfigError, error_at, xml_error

__all__ = ["ConfigFile", "Scope", "applicable_scopes", "find_web_config",
           "parse_root", "read_config_file"]


def parse_root(path: str, tag: str = "configuration",
               what: str = "web.config") -> safexml.Element:
    """The root element of the file at ``path``, which must be ``<tag>``;
    ConfigError (naming ``what``, e.g. "web.config") when the file cannot
    be read or parsed, or its root is another element."""
    try:
        root = safexml.parse_file(path)
    except OSError as error:
        raise ConfigError("cannot be read: %s" % (error.strerror or error),
                          path) from None
    except safexml.XMLError as error:
        raise xml_error(error, what) from None
    if root.tag != tag:
        raise error_at(path, root, "the root element is <%s>, not <%s>: a %s"
                       " holds one <%s>" % (root.tag, tag, what, tag))
    return root


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


class Scope(Record):
    """The sections directly under ``<configuration>`` (path "") or under
    one ``<location path=...>`` (path relative to the file's folder)."""

    __slots__ = ("element", "path", "inherit_in_child_applications")
    element: safexml.Element
    path: str
    inherit_in_child_applications: bool

    def __init__(self, element: safexml.Element, path: str = "",
                 inherit_in_child_applications: bool = True) -> None:
        self.element = element
        self.path = path
        self.inherit_in_child_applications = inherit_in_child_applications

    def applies_to(self, relative: str) -> bool:
        """Whether this scope applies to ``relative`` (a path under the
        file's folder, "/"-separated, without a leading slash)."""
        return split_under(relative.strip("/"), self.path) is not None


class ConfigFile(Record):
    """One parsed configuration file."""

    __slots__ = ("path", "root", "scopes")
    path: str
    root: safexml.Element
    scopes: List[Scope]

    def __init__(self, path: str, root: safexml.Element,
                 scopes: List[Scope]) -> None:
        self.path = path
        self.root = root
        self.scopes = scopes

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
    root = parse_root(path, "configuration", what)
    scopes = [Scope(root)]
    for element in root.findall("location"):
        for inner in element.iter("location"):
            if inner is not element:
                raise error_at(path, inner, "a <location> inside another"
                               " <location> is not allowed: put it directly"
                               " in <configuration>, with the combined path")
        inherit = boolean(path, element, "inheritInChildApplications", True)
        scopes.append(Scope(element, _location_path(element.get("path", "")),
                            inherit))
    return ConfigFile(path, root, scopes)


def applicable_scopes(levels: Sequence[Tuple[ConfigFile, str]],
                      child_application_levels: int = 0
                      ) -> List[Tuple[str, Scope]]:
    """(path, Scope) for every scope of ``levels`` that applies, in the
    order they apply: ``levels`` are (ConfigFile, the requested path
    relative to its folder), outermost first, the first
    ``child_application_levels`` of them a parent application's."""
    return [(config_file.path, scope)
            for index, (config_file, relative) in enumerate(levels)
            for scope in config_file.scopes_for(
                relative, index < child_application_levels)]
