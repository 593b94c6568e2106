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
from typing import TYPE_CHECKING, Any, Optional, Type, Union

from .errors import IISWSGIError

if TYPE_CHECKING:
    import xml.etree.ElementTree as ElementTree

    from ._xmltree import Element

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


def __getattr__(name: str) -> Any:
    # Element is ElementTree's class: it (and the parser, defusedxml and
    # expat) is imported when first used, not at every start of the
    # gateway, which reads a web.config only when the site has one.
    if name == "Element":
        from ._xmltree import Element
        return Element
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def parse(data: Union[str, bytes], source: str = "the XML") -> "Element":
    """The root :class:`Element` of ``data`` (str, or bytes in the
    encoding its BOM or declaration names); XMLError, naming ``source``,
    the line and the column, when it cannot be parsed or holds a
    DOCTYPE."""
    from ._xmltree import parse as parse_tree
    return parse_tree(data, source)


def parse_file(path: str) -> "Element":
    """The root Element of the XML file at ``path``; OSError when it cannot
    be read, XMLError when it cannot be parsed."""
    with open(path, "rb") as stream:
        data = stream.read()
    return parse(data, path)


def parse_file_or(path: str, error_class: Type[Exception],
                  what: str = "the file", missing: str = "") -> "Element":
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


def serialize(root: "ElementTree.Element",
              indent: Optional[str] = "  ") -> str:
    """The text of the XML document whose root is ``root``: the UTF-8
    declaration, the element (indented in place by ``indent`` a level,
    unless it is None) and a line end."""
    import xml.etree.ElementTree as ElementTree
    if indent is not None:
        ElementTree.indent(root, indent)
    return (DECLARATION + ElementTree.tostring(root, encoding="unicode")
            + "\n")
