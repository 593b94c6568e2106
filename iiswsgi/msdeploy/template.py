"""Variable substitution in the package's templates.

``$NAME``, ``${NAME}`` and ``%NAME%`` are replaced by the value of NAME;
``$$`` and ``%%`` stand for a literal ``$`` and ``%``.  Names are looked up
as given, then in any case (Windows environment variables are
case-insensitive).  An unknown name is left as written, as Windows does,
so ``%SystemDrive%`` survives a build on another system and is expanded by
cmd.exe or IIS on the target.
"""

import logging
import re
from xml.sax.saxutils import escape

__all__ = ["substitute", "xml_escape"]

log = logging.getLogger("iiswsgi.msdeploy.template")

_TOKEN = re.compile(r"""
    (?P<percent>%%)
  | %(?P<windows>[A-Za-z_][A-Za-z0-9_.()-]*)%
  | (?P<dollar>\$\$)
  | \$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}
  | \$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)


def xml_escape(value):
    """``value`` safe inside XML text and double- or single-quoted
    attributes."""
    return escape(value, {'"': "&quot;", "'": "&apos;"})


def substitute(text, variables, escape_value=None, source="the template"):
    """``text`` with its variables replaced from ``variables`` (a
    mapping); ``escape_value`` (such as :func:`xml_escape`) is applied to
    every value put in."""
    folded = {}
    for key, value in variables.items():
        folded.setdefault(key.upper(), value)

    def replace(match):
        if match.group("percent"):
            return "%"
        if match.group("dollar"):
            return "$"
        name = (match.group("windows") or match.group("braced")
                or match.group("plain"))
        value = variables.get(name)
        if value is None:
            value = folded.get(name.upper())
        if value is None:
            log.debug("%s: %s is not defined; left as it is", source,
                      match.group(0))
            return match.group(0)
        value = str(value)
        return escape_value(value) if escape_value else value

    return _TOKEN.sub(replace, text)
