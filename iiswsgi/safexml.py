"""Parse XML from files and programs that are not ours to trust.

appcmd's output, a site's web.config and applicationHost.config, and the
MSDeploy files are parsed here, through defusedxml.  None of them ever
needs a document type declaration, so one is refused outright: with no
DOCTYPE there can be no entity declarations, hence no external entities
and no entity expansion bombs.

Every element parsed here knows where its start tag is (``line`` and
``column``, both counted from 1) so that a configuration error can say
where it is.  Namespaces are dropped from element names: none of these
files gives them meaning (IIS ignores the old
``xmlns="http://schemas.microsoft.com/.NetConfiguration/v2.0"`` of a
web.config), so ``<configuration xmlns=...>`` is read as
``<configuration>``.
"""

import xml.etree.ElementTree as ElementTree
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from .errors import IISWSGIError

__all__ = ["Element", "XMLError", "parse", "parse_file"]


class XMLError(IISWSGIError, ValueError):
    """The text is not well-formed XML, or declares a DOCTYPE.  ``source``,
    ``line``, ``column`` (from 1) and ``problem`` say where and what."""

    def __init__(self, message, source="", line=0, column=0, problem=""):
        ValueError.__init__(self, message)
        self.source = source
        self.line = line
        self.column = column
        self.problem = problem or message


class Element(ElementTree.Element):
    """An element that remembers where its start tag is."""
    line = 0
    column = 0


def _local(tag):
    return tag.rpartition("}")[2] if tag.startswith("{") else tag


class _Builder(ElementTree.TreeBuilder):
    """A tree builder that gives each element the parser's position."""

    def __init__(self):
        ElementTree.TreeBuilder.__init__(self, element_factory=Element)
        self.parser = None

    def start(self, tag, attrs):
        element = ElementTree.TreeBuilder.start(self, _local(tag), {
            _local(name): value for name, value in attrs.items()})
        expat_parser = self.parser.parser
        element.line = expat_parser.CurrentLineNumber
        element.column = expat_parser.CurrentColumnNumber + 1
        return element

    def end(self, tag):
        return ElementTree.TreeBuilder.end(self, _local(tag))


def parse(data, source="the XML"):
    """The root :class:`Element` of ``data`` (str, or bytes in the
    encoding its BOM or declaration names); XMLError, naming ``source``,
    the line and the column, when it cannot be parsed or holds a
    DOCTYPE."""
    builder = _Builder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True,
                              forbid_entities=True, forbid_external=True)
    builder.parser = parser
    try:
        parser.feed(data)
        return parser.close()
    except DefusedXmlException:
        line = parser.parser.CurrentLineNumber
        column = parser.parser.CurrentColumnNumber + 1
        problem = ("a DOCTYPE (document type or entity declaration) is not"
                   " allowed here")
        raise XMLError("%s: line %d, column %d: %s" % (
            source, line, column, problem), source, line, column,
            problem) from None
    except ElementTree.ParseError as error:
        line, offset = error.position
        problem = expat.ErrorString(error.code)
        raise XMLError("%s is not well-formed XML: line %d, column %d: %s"
                       % (source, line, offset + 1, problem), source, line,
                       offset + 1, problem) from None


def parse_file(path):
    """The root Element of the XML file at ``path``; OSError when it cannot
    be read, XMLError when it cannot be parsed."""
    with open(path, "rb") as stream:
        data = stream.read()
    return parse(data, path)
