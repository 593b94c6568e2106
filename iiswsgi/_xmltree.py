"""The parser behind :mod:`iiswsgi.safexml` (imported by it when XML is
first parsed): ElementTree elements that know where their start tag is,
built through defusedxml with DOCTYPEs refused."""

import xml.etree.ElementTree as ElementTree
from typing import Union
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from .safexml import XMLError

__all__ = ["Element", "parse"]


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
    """See :func:`iiswsgi.safexml.parse`."""
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
