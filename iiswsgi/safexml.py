"""Parse XML from files and programs that are not ours to trust.

appcmd's output and a site's web.config are parsed here.  Neither ever
needs a document type declaration, so one is refused outright: with no
DOCTYPE there can be no entity declarations, hence no external entities
and no entity expansion bombs.
"""

import xml.etree.ElementTree as ElementTree
from xml.parsers import expat

__all__ = ["XMLError", "parse", "parse_file"]


class XMLError(ValueError):
    """The text is not well-formed XML, or declares a DOCTYPE."""


class _Refused(Exception):
    pass


def _refuse(*args):
    raise _Refused("a DOCTYPE (document type or entity declaration) is not"
                   " allowed here")


def parse(data, source="the XML"):
    """The root Element of ``data`` (str, or bytes in the encoding its
    declaration names); XMLError, naming ``source``, when it cannot be
    parsed or holds a DOCTYPE."""
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(data, True)
    except _Refused as error:
        raise XMLError("%s: line %d: %s" % (
            source, parser.CurrentLineNumber, error)) from None
    except expat.ExpatError as error:
        raise XMLError("%s is not well-formed XML: line %d, column %d: %s"
                       % (source, error.lineno, error.offset + 1,
                          expat.ErrorString(error.code))) from None
    return builder.close()


def parse_file(path):
    """The root Element of the XML file at ``path``; OSError when it cannot
    be read, XMLError when it cannot be parsed."""
    with open(path, "rb") as stream:
        data = stream.read()
    return parse(data, path)
