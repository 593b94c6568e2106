"""Manifest.xml: the Web Deploy providers an application package runs.

A ``Manifest.xml.in`` template is substituted (:mod:`.template`) and
every ``<runCommand>`` element's settings (attributes other than ``path``
and ``MSDeploy.*``, such as ``successReturnCodes`` or ``waitAttempts``) are
moved into an ``MSDeploy.MSDeployProviderOptions`` blob: Web Deploy ignores
them as plain attributes in a package manifest.
"""

import logging
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Dict, List, Mapping

from .. import safexml
from .errors import PackageError
from .options import encode_provider_options
from .template import write_xml_template

__all__ = ["Manifest", "Provider", "build_manifest", "convert_manifest",
           "read_manifest"]

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


def convert_manifest(manifest: Manifest) -> Manifest:
    """Move the settings of every ``<runCommand>`` of ``manifest`` (in
    place) into its ``MSDeploy.MSDeployProviderOptions``; PackageError when
    one has no ``path``."""
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
                   variables: Mapping[str, str]) -> Manifest:
    """Write ``output`` (Manifest.xml) from ``template``
    (Manifest.xml.in); the converted :class:`Manifest`."""
    root = write_xml_template(
        template, output, variables,
        "an MSDeploy package needs a Manifest.xml.in template (see"
        " examples/sample.msdeploy)",
        lambda root: convert_manifest(Manifest(root, template)).tostring())
    return Manifest(root, template)
