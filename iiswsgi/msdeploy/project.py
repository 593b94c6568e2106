"""What a project says about its Web Deploy package: the
``[tool.iiswsgi]`` table of its pyproject.toml, and its metadata (name,
version, summary, ...) read from its built wheel, so any PEP 517 backend
works.

``[tool.iiswsgi]`` keys are the setup() keywords the commands read,
hyphenated (``author-url`` for ``author_url``), plus ``wsgi-handler``
(the application, a wfastcgi-style dotted name), ``python-home`` (the
target server's Python folder, default ``%SystemDrive%\\PythonXY``),
``include`` (globs of project files to put in the application folder),
``wait-attempts`` and ``wait-interval`` (how long Web Deploy waits for
iiswsgi_install).
"""

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

from ..files import read_toml
from .errors import PackageError

__all__ = ["SETTINGS", "ProjectMetadata", "check_settings",
           "keyword_settings", "metadata_variables", "read_pyproject",
           "read_tool_settings"]

PYPROJECT = "pyproject.toml"

# key -> (type, what it is); the setup() keyword is the key with "_".
SETTINGS: Dict[str, tuple] = {
    "wsgi-handler": (str, "the WSGI application, as WSGI_HANDLER names"
                          " it (my_project.wsgi.application)"),
    "title": (str, "the application's title"),
    "author-url": (str, "a URL"),
    "license-url": (str, "a URL"),
    "display-url": (str, "a URL"),
    "help-url": (str, "a URL"),
    "icon-url": (str, "a URL"),
    "screenshot-url": (str, "a URL"),
    "discovery-file": (str, "a file WebPI looks for"),
    "published": (str, "an ISO 8601 date"),
    "msdeploy-url-template": (str, "the zip's download URL template"),
    "webpi-dependencies": (list, "WebPI productIds"),
    "install-msdeploy": (list, "WebPI productIds (iiswsgi 0.3's name)"),
    "install-webpi": (list, "related WebPI productIds"),
    "msdeploy-package": (bool, "whether build builds Manifest.xml"),
    "python-home": (str, "the target server's Python folder"),
    "include": (list, "globs of project files for the application folder"),
    "wait-attempts": (int, "how many times Web Deploy waits for"
                           " iiswsgi_install"),
    "wait-interval": (int, "milliseconds of each wait"),
}


def _type_name(kind):
    return {str: "a string", list: "a list of strings", bool: "true or"
            " false", int: "a whole number"}[kind]


def check_settings(values: Mapping[str, Any], source: str) -> Dict[str, Any]:
    """``values`` checked against :data:`SETTINGS`; PackageError naming
    the key, its value, ``source`` and what it must be."""
    checked = {}
    for key, value in values.items():
        if key not in SETTINGS:
            close = [k for k in SETTINGS if k.replace("-", "") ==
                     key.replace("_", "").replace("-", "").lower()]
            raise PackageError(
                "%s: %s is not an iiswsgi setting%s; the settings are %s"
                % (source, key, " (did you mean %s?)" % close[0]
                   if close else "", ", ".join(sorted(SETTINGS))))
        kind, doc = SETTINGS[key]
        good = isinstance(value, kind) and not (
            kind is int and isinstance(value, bool)) and not (
            kind is list and not all(isinstance(v, str) for v in value))
        if not good:
            raise PackageError("%s: %s = %r must be %s (%s)" % (
                source, key, value, _type_name(kind), doc))
        checked[key] = value
    return checked


def read_pyproject(path: str) -> Dict[str, Any]:
    """The pyproject.toml at ``path``, parsed; PackageError naming it when
    it cannot be."""
    return read_toml(path, PackageError)


def read_tool_settings(project_dir: str) -> Dict[str, Any]:
    """The checked ``[tool.iiswsgi]`` of the project's pyproject.toml
    ({} without one)."""
    path = os.path.join(project_dir, PYPROJECT)
    if not os.path.isfile(path):
        return {}
    data = read_pyproject(path)
    table = data.get("tool", {}).get("iiswsgi", {})
    if not isinstance(table, dict):
        raise PackageError("%s: [tool.iiswsgi] must be a table" % path)
    return check_settings(table, "[tool.iiswsgi] of %s" % path)


def keyword_settings(distribution: Any) -> Dict[str, Any]:
    """The settings a setup.py gives as setup() keywords
    (``wsgi_handler=...``), checked like ``[tool.iiswsgi]``'s."""
    found = {}
    for key in SETTINGS:
        value = getattr(distribution, key.replace("-", "_"), None)
        if value is not None and not (key == "include"):
            found[key] = list(value) if isinstance(value, tuple) else value
    return check_settings(found, "the setup() keywords of %s" % (
        getattr(distribution, "script_name", None) or "setup.py"))


@dataclass
class ProjectMetadata:
    """The metadata of a built project (its wheel's METADATA)."""
    name: str
    version: str
    summary: str = ""
    url: str = ""
    author: str = ""
    author_email: str = ""
    license: str = ""
    requires: Optional[List[str]] = None

    @classmethod
    def from_wheel(cls, path: str) -> "ProjectMetadata":
        from .wheelhouse import wheel_metadata
        meta = wheel_metadata(path)
        urls = meta.get_all("Project-URL") or []
        return cls(
            name=meta.get("Name", ""), version=meta.get("Version", ""),
            summary=meta.get("Summary", "") or "",
            url=meta.get("Home-page") or (urls[0].split(",", 1)[-1].strip()
                                          if urls else ""),
            author=meta.get("Author", "") or "",
            author_email=meta.get("Author-email", "") or "",
            license=meta.get("License", "") or meta.get(
                "License-Expression", "") or "",
            requires=meta.get_all("Requires-Dist") or [])


def metadata_variables(metadata: ProjectMetadata,
                       settings: Mapping[str, Any]) -> Dict[str, str]:
    """The template variables (as commands.dist_variables gives a
    setup.py project's): the environment, then ``DIST_NAME`` ..."""
    variables = dict(os.environ)
    variables.update({
        "DIST_NAME": metadata.name, "DIST_VERSION": metadata.version,
        "DIST_DESCRIPTION": metadata.summary, "DIST_URL": metadata.url,
        "DIST_AUTHOR": metadata.author,
        "DIST_AUTHOR_EMAIL": metadata.author_email,
        "DIST_LICENSE": metadata.license,
        "DIST_TITLE": settings.get("title") or metadata.name,
    })
    return variables
