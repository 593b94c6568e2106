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

import re
import xml.etree.ElementTree as ElementTree
from typing import Optional, Type, Union
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from .errors import IISWSGIError

__all__ = ["DECLARATION", "Element", "NOT_XML", "XMLError", "check_xml_text",
           "parse", "parse_file", "parse_file_or", "serialize"]

# What XML 1.0 cannot hold at all, even as a character reference: C0
# controls but tab, LF and CR; lone surrogates; U+FFFE and U+FFFF.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff"
                     "\ufffe\uffff]")

# The declaration every XML file written here starts with.
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'



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


def parse_file_or(path: str, error_class: Type[Exception],
                  what: str = "the file", missing: str = "") -> Element:
    """:func:`parse_file`, raising ``error_class`` (the caller's own error)
    with a message naming ``what`` and ``path`` when the file cannot be
    read or parsed; ``missing`` (what to do) is added when it does not
    exist."""
    try:
        return parse_file(path)
    except FileNotFoundError as error:
        if not missing:
            raise error_class("%s %s cannot be read: %s" % (
                what, path, error.strerror or error)) from None
        raise error_class("%s %s not found: %s" % (what, path, missing)) \
            from None
    except OSError as error:
        raise error_class("%s %s cannot be read: %s" % (
            what, path, error.strerror or error)) from None
    except XMLError as error:
        raise error_class(str(error)) from None


def check_xml_text(value: str, what: str = "a value") -> str:
    """``value``, or ValueError naming ``what`` when XML 1.0 cannot
    represent one of its characters (NUL and other C0 controls, lone
    surrogates, U+FFFE, U+FFFF)."""
    bad = NOT_XML.search(value)
    if bad:
        raise ValueError("%s holds the character U+%04X at position %d,"
                         " which XML cannot represent" % (
                             what, ord(bad.group()), bad.start()))
    return value


def serialize(root: ElementTree.Element,
              indent: Optional[str] = "  ") -> str:
    """The text of the XML document whose root is ``root``: the UTF-8
    declaration, the element (indented in place by ``indent`` a level,
    unless it is None) and a line end."""
    if indent is not None:
        ElementTree.indent(root, indent)
    return (DECLARATION + ElementTree.tostring(root, encoding="unicode")
            + "\n")
