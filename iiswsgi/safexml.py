"""Parse XML from files and programs that are not ours to trust.

appcmd's output, a site's web.config and applicationHost.config, and the
MSDeploy files are parsed here, through defusedxml.  None of them ever
needs a document type declaration, so one is refused outright: with no
DOCTYPE there can be no entity declarations, hence no external entities
and no entity expansion bombs.

Every element parsed here knows where its start tag is (``line`` and
``column``, both counted from 1) so that a configuration error can say
where it is.  Names are given as written, not as namespace URIs:
``<feed xmlns="http://www.w3.org/2005/Atom">`` is an element ``feed``
with an attribute ``xmlns``, ``<a:b>`` is ``a:b`` (so IIS's old
``<configuration xmlns="...NetConfiguration/v2.0">`` is ``configuration``).
"""

import xml.etree.ElementTree as ElementTree
from typing import Union
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from .errors import IISWSGIError

__all__ = ["Element", "XMLError", "parse", "parse_file"]


class XMLError(IISWSGIError, ValueError):
    """The text is not well-formed XML, or declares a DOCTYPE.  ``source``,
    ``line``, ``column`` (from 1) and ``problem`` say where and what."""

    def __init__(self, message: str, source: str = "", line: int = 0,
                 column: int = 0, problem: str = "") -> None:
        ValueError.__init__(self, message)
        self.source = source
        self.line = line
        self.column = column
        self.problem = problem or message


class Element(ElementTree.Element):
    """An element that remembers where its start tag is."""
    line = 0
    column = 0


class _Builder(ElementTree.TreeBuilder):
    """A tree builder that gives each element the parser's position, and
    its names as written (prefix:name, xmlns attributes kept)."""

    def __init__(self):
        ElementTree.TreeBuilder.__init__(self, element_factory=Element)
        self.parser = None
        self._prefixes = {}       # namespace URI -> prefix
        self._declared = []       # xmlns attributes for the next element

    def start_ns(self, prefix, uri):
        self._prefixes[uri] = prefix
        self._declared.append(("xmlns:" + prefix if prefix else "xmlns",
                               uri))

    def _written(self, name):
        if not name.startswith("{"):
            return name
        uri, _, local = name[1:].partition("}")
        prefix = self._prefixes.get(uri, "")
        return prefix + ":" + local if prefix else local

    def start(self, tag, attrs):
        attributes = dict(self._declared)
        self._declared = []
        attributes.update((self._written(name), value)
                          for name, value in attrs.items())
        element = ElementTree.TreeBuilder.start(self, self._written(tag),
                                                attributes)
        expat_parser = self.parser.parser
        element.line = expat_parser.CurrentLineNumber
        element.column = expat_parser.CurrentColumnNumber + 1
        return element

    def end(self, tag):
        return ElementTree.TreeBuilder.end(self, self._written(tag))


def parse(data: Union[str, bytes], source: str = "the XML") -> Element:
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


def parse_file(path: str) -> Element:
    """The root Element of the XML file at ``path``; OSError when it cannot
    be read, XMLError when it cannot be parsed."""
    with open(path, "rb") as stream:
        data = stream.read()
    return parse(data, path)
