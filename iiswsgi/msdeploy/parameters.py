"""Parameters.xml: what Web Deploy (and WebPI) asks the installer for, and
where each value goes.

:func:`read_parameters` parses and checks it: well-formed, every parameter
named and named once, at least one parameter tagged ``iisApp`` (the
application path), every ``<parameterEntry>`` of a known kind, and every
regular expression (``scope``, and ``match`` where it is one) compiling.
Python's ``re`` stands in for .NET's regular expressions, which agree on
what package authors write.
"""

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional

from .. import safexml
from ..files import write_atomically
from ..settings import regex_problem
from .errors import PackageError

__all__ = ["ENTRY_KINDS", "Entry", "Parameter", "Parameters",
           "parameters_xml", "read_parameters", "write_parameters"]

# kind -> (scope is a regex, match is a regex)
ENTRY_KINDS = {
    "providerpath": (True, True),
    "textfile": (True, True),
    "xmlfile": (True, False),            # match is an XPath
    "textfileposition": (True, False),   # match is line;column;length
    "deploymentobjectattribute": (True, False),
    "destinationvirtualdirectory": (False, False),
    "destinationbinding": (False, False),
}
IIS_APP_TAG = "iisapp"


@dataclass
class Entry:
    """One ``<parameterEntry>``: where the value goes."""
    kind: str
    scope: str = ""
    match: str = ""


@dataclass
class Parameter:
    """One ``<parameter>``: what is asked, and its entries."""
    name: str
    description: str = ""
    default_value: Optional[str] = None
    tags: List[str] = field(default_factory=list)
    entries: List[Entry] = field(default_factory=list)
    validation: Dict[str, str] = field(default_factory=dict)

    def has_tag(self, tag: str) -> bool:
        return tag.lower() in (t.lower() for t in self.tags)


@dataclass
class Parameters:
    """The parameters of a Parameters.xml (``source``)."""
    parameters: List[Parameter]
    source: str = "Parameters.xml"

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name.lower() == name.lower():
                return parameter
        raise KeyError(name)

    @property
    def application_path(self) -> Optional[Parameter]:
        """The first parameter tagged iisApp."""
        for parameter in self.parameters:
            if parameter.has_tag(IIS_APP_TAG):
                return parameter
        return None


def _tags(text):
    return [tag.strip() for tag in (text or "").split(",") if tag.strip()]


def read_parameters(path: str) -> Parameters:
    """The :class:`Parameters` of the file at ``path``; PackageError
    listing every problem found, each naming the file and parameter."""
    root = safexml.parse_file_or(path, PackageError, "the parameters file",
                                 "an MSDeploy package needs a Parameters.xml")
    return parse_parameters(root, path)


def parse_parameters(root: ElementTree.Element,
                     source: str = "Parameters.xml") -> Parameters:
    problems = []
    if root.tag != "parameters":
        raise PackageError("%s: the root element is <%s>, not <parameters>"
                           % (source, root.tag))
    seen = {}
    parameters = []
    for number, element in enumerate(root.findall("parameter"), 1):
        name = element.get("name")
        if not name:
            problems.append("parameter #%d has no name attribute" % number)
            name = "#%d" % number
        elif name.lower() in seen:
            problems.append(
                "parameter %r: the name is used twice (also parameter #%d;"
                " names are compared in any case)"
                % (name, seen[name.lower()]))
        else:
            seen[name.lower()] = number
        parameter = Parameter(name, element.get("description", ""),
                              element.get("defaultValue"),
                              _tags(element.get("tags")))
        for entry_element in element.findall("parameterEntry"):
            kind = entry_element.get("kind") or entry_element.get("type")
            entry = Entry(kind or "", entry_element.get("scope", ""),
                          entry_element.get("match", ""))
            parameter.entries.append(entry)
            if not kind:
                problems.append("parameter %r: a <parameterEntry> has no kind"
                                " attribute" % name)
                continue
            known = ENTRY_KINDS.get(kind.lower())
            if known is None:
                problems.append(
                    "parameter %r: unknown parameterEntry kind %r (known:"
                    " ProviderPath, TextFile, XmlFile, TextFilePosition,"
                    " DeploymentObjectAttribute, DestinationVirtualDirectory,"
                    " DestinationBinding)" % (name, kind))
                continue
            for attribute, is_regex in zip(("scope", "match"), known):
                text = entry_element.get(attribute)
                if not is_regex or text is None:
                    continue
                problem = regex_problem(text)
                if problem:
                    problems.append(
                        "parameter %r: the %s entry's %s %r is not a valid"
                        " regular expression: %s"
                        % (name, kind, attribute, text, problem))
        validations = element.findall("parameterValidation")
        if len(validations) > 1:
            problems.append("parameter %r: more than one"
                            " <parameterValidation>" % name)
        if validations:
            parameter.validation = dict(validations[0].attrib)
        parameters.append(parameter)
    result = Parameters(parameters, source)
    if not parameters:
        problems.append("no <parameter> at all")
    elif result.application_path is None:
        problems.append(
            "no parameter is tagged iisApp: add tags=\"iisApp\" to the"
            " application path parameter (with a <parameterEntry"
            " kind=\"ProviderPath\" scope=\"iisApp\" match=...>)")
    if problems:
        raise PackageError("%s: %s" % (source, "; ".join(problems))
                           if len(problems) == 1 else
                           "%s has %d problems:\n  %s" % (
                               source, len(problems), "\n  ".join(problems)))
    return result


def _attributes(element, pairs, where):
    for name, value in pairs:
        if value is None:
            continue
        try:
            element.set(name, safexml.check_xml_text(
                str(value), "the %s of %s" % (name, where)))
        except ValueError as error:
            raise PackageError(str(error)) from None


def parameters_xml(parameters: Iterable[Parameter]) -> str:
    """The text of a Parameters.xml holding ``parameters`` (an iterable of
    :class:`Parameter`); every value reads back exactly, through
    :func:`read_parameters`.  PackageError for a value XML cannot hold."""
    root = ElementTree.Element("parameters")
    for parameter in parameters:
        where = "parameter %r" % parameter.name
        element = ElementTree.SubElement(root, "parameter")
        _attributes(element, [
            ("name", parameter.name),
            ("description", parameter.description or None),
            ("defaultValue", parameter.default_value),
            ("tags", ", ".join(parameter.tags) or None)], where)
        if parameter.validation:
            _attributes(ElementTree.SubElement(element, "parameterValidation"),
                        parameter.validation.items(), where)
        for entry in parameter.entries:
            _attributes(ElementTree.SubElement(element, "parameterEntry"), [
                ("kind", entry.kind), ("scope", entry.scope),
                ("match", entry.match)], where)
    return safexml.serialize(root)


def write_parameters(parameters: Iterable[Parameter], path: str) -> str:
    """Write :func:`parameters_xml` to ``path`` (UTF-8, replaced at once)."""
    return write_atomically(path, parameters_xml(parameters))
