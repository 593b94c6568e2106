"""Manifest.xml: the Web Deploy providers an application package runs.

A ``Manifest.xml.in`` template is substituted (:mod:`.template`) and
every ``<runCommand>`` element's settings (attributes other than ``path``
and ``MSDeploy.*``, such as ``successReturnCodes`` or ``waitAttempts``) are
moved into an ``MSDeploy.MSDeployProviderOptions`` blob: Web Deploy ignores
them as plain attributes in a package manifest.
"""

import logging
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional

from .. import safexml
from .errors import PackageError
from .options import encode_provider_options
from .template import write_xml_template, xml_escape

__all__ = ["Manifest", "Provider", "add_build_token", "build_manifest",
           "convert_manifest", "default_manifest", "read_manifest"]

log = logging.getLogger("iiswsgi.msdeploy.manifest")

KEY_ATTRIBUTE = "MSDeploy.MSDeployKeyAttributeName"
OPTIONS_ATTRIBUTE = "MSDeploy.MSDeployProviderOptions"
CONVERTED = ("runCommand",)


@dataclass
class Provider:
    """A provider of the manifest: ``<name path=... attributes>``."""
    name: str
    path: str
    attributes: Dict[str, str] = field(default_factory=dict)


@dataclass
class Manifest:
    """A Manifest.xml (from ``source``) as its root Element."""
    root: ElementTree.Element
    source: str = "Manifest.xml"

    @property
    def providers(self) -> List[Provider]:
        return [Provider(child.tag, child.get("path", ""),
                         dict(child.attrib)) for child in self.root]

    @property
    def iis_app_paths(self) -> List[str]:
        """The ``path`` of each ``<iisApp>``: the package folders whose
        contents become the IIS application."""
        return [p.path for p in self.providers if p.name.lower() == "iisapp"]

    def tostring(self) -> str:
        return safexml.serialize(self.root, indent=None)


def _ordinal(number):
    suffix = "th" if 10 <= number % 100 <= 20 else {
        1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return "%d%s" % (number, suffix)


def read_manifest(data: str, source: str = "Manifest.xml") -> Manifest:
    """A :class:`Manifest` from XML text; PackageError naming ``source``
    when it is not well-formed."""
    try:
        root = safexml.parse(data, source)
    except safexml.XMLError as error:
        raise PackageError(str(error)) from None
    return Manifest(root, source)


# The iiswsgi_install program in a command line: the console script (with
# or without .exe, quoted or not, after any folder) or the module.
_INSTALLER = re.compile(
    r"""(?ix)(?:^|(?<=[\s\\/"]))(?:iiswsgi_install(?:\.exe)?"?"""
    r"""|-m\s+iiswsgi\.msdeploy\.install)(?=\s|$)""")
_TOKEN_OPTION = re.compile(r"\s--build-token(?:\s+|=)\S*")


def add_build_token(command: str, token: str) -> str:
    """``command`` with `` --build-token TOKEN`` right after the
    iiswsgi_install program name, when it runs iiswsgi_install (any
    ``--build-token`` already there is replaced)."""
    match = _INSTALLER.search(command)
    if match is None:
        return command
    rest = _TOKEN_OPTION.sub("", command[match.end():])
    return "%s --build-token %s%s" % (command[:match.end()], token, rest)


def convert_manifest(manifest: Manifest, token: Optional[str] = None
                     ) -> Manifest:
    """Move the settings of every ``<runCommand>`` of ``manifest`` (in
    place) into its ``MSDeploy.MSDeployProviderOptions``, giving a command
    that runs iiswsgi_install the build ``token`` (when there is one);
    PackageError when one has no ``path``."""
    counts = {}
    for element in manifest.root:
        counts[element.tag] = counts.get(element.tag, 0) + 1
        if element.tag not in CONVERTED:
            continue
        path = element.get("path")
        if not path:
            raise PackageError(
                "%s: the %s <%s> has no path attribute (the command line"
                " to run); add path=\"...\"" % (
                    manifest.source, _ordinal(counts[element.tag]),
                    element.tag))
        if token and element.tag == "runCommand":
            path = add_build_token(path, token)
            element.set("path", path)
        settings = [(name, value) for name, value in element.attrib.items()
                    if name != "path" and not name.startswith("MSDeploy.")]
        for name, _ in settings:
            del element.attrib[name]
        element.set(KEY_ATTRIBUTE, "path")
        element.set(OPTIONS_ATTRIBUTE, encode_provider_options(
            element.tag, path, settings))
        log.debug("%s: <%s path=%r> settings %s encoded", manifest.source,
                  element.tag, path, settings)
    if not manifest.iis_app_paths:
        log.warning("%s has no <iisApp path=...>: Web Deploy will have no"
                    " application content to install", manifest.source)
    return manifest


def build_manifest(template: str, output: str,
                   variables: Mapping[str, str], token: Optional[str] = None,
                   warn_old: bool = True) -> Manifest:
    """Write ``output`` (Manifest.xml) from ``template``
    (Manifest.xml.in); the converted :class:`Manifest`, its
    iiswsgi_install commands given the build ``token``.  ``warn_old``:
    warn about iiswsgi 0.3's ``{NAME}`` placeholders."""
    root = write_xml_template(
        template, output, variables,
        "an MSDeploy package needs a Manifest.xml.in template (see"
        " examples/sample.msdeploy)",
        lambda root: convert_manifest(Manifest(root, template),
                                      token).tostring(), warn_old)
    return Manifest(root, template)


def default_manifest(name: str, install_command: str,
                     wait_attempts: int = 60, wait_interval: int = 5000
                     ) -> str:
    """The Manifest.xml.in of a project that has none: the content folder
    ``name`` as the IIS application (``iisApp``), write access to it for
    the application pool (``setAcl``: the log and web.config are written
    there), and a ``runCommand`` running ``install_command``
    (iiswsgi_install), given ``wait_attempts`` x ``wait_interval`` ms to
    finish, 0 its only success.  Values are escaped for the template:
    ``$`` and ``%`` in them stay as they are."""
    def value(text):
        return xml_escape(text.replace("$", "$$").replace("%", "%%"))
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<!-- Written by iiswsgi: the project has no Manifest.xml.in. -->\n"
        "<MSDeploy.iisApp>\n"
        '  <iisApp path="%(name)s" />\n'
        '  <setAcl path="%(name)s" setAclAccess="Modify" />\n'
        '  <runCommand path="%(command)s" successReturnCodes="0x0"'
        ' waitAttempts="%(attempts)d" waitInterval="%(interval)d" />\n'
        "</MSDeploy.iisApp>\n" % {
            "name": value(name), "command": value(install_command),
            "attempts": wait_attempts, "interval": wait_interval})
