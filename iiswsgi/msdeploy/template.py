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
from typing import Any, Callable, Mapping, Optional

from .. import safexml
from ..files import write_atomically
from ..iis.expand import WindowsNames
from ..safexml import check_xml_text
from .errors import PackageError

__all__ = ["old_placeholders", "substitute", "write_xml_template",
           "xml_escape"]

log = logging.getLogger("iiswsgi.msdeploy.template")

_TOKEN = re.compile(r"""
    (?P<percent>%%)
  | %(?P<windows>[A-Za-z_][A-Za-z0-9_.()-]*)%
  | (?P<dollar>\$\$)
  | \$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}
  | \$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)


# Markup characters, and the white space an XML parser would normalise
# (in attribute values to a space, CR and CR LF to LF everywhere): as
# references, every character comes back as it was.
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
            "'": "&apos;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
_SPECIAL = re.compile("[&<>\"'\t\n\r]")


def xml_escape(value: str) -> str:
    """``value`` safe inside XML text and double- or single-quoted
    attributes, parsed back exactly as it is (tabs and line ends
    included); ValueError for characters XML cannot hold."""
    check_xml_text(value)
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group()], value)


# iiswsgi 0.3's placeholders, ``{NAME}`` (str.format), which are not
# substituted any more: ``${NAME}`` is.  Only names a template can mean
# are taken for one: URL Rewrite's ``{HTTP_HOST}`` or ``{R:1}`` are not.
_OLD = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")
_OLD_NAMES = {"APPL_PHYSICAL_PATH", "PYTHON_EXE", "PYTHON_HOME", "SEP",
              "SYSTEMDRIVE"}


def old_placeholders(text: str, source: str = "the template",
                     variables: Optional[Mapping[str, Any]] = None) -> list:
    """(line, placeholder) for each iiswsgi 0.3 ``{NAME}`` placeholder in
    ``text`` (NAME a ``DIST_*`` name, one install_msdeploy gives, or one
    of ``variables``), each logged as a warning naming ``source`` and the
    line."""
    names = WindowsNames(variables or {})

    def meant(name):
        upper = name.upper()
        return upper.startswith("DIST_") or upper in _OLD_NAMES or (
            names.get(name) is not None)
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in _OLD.finditer(line):
            if not meant(match.group(1)):
                continue
            found.append((number, match.group(0)))
            log.warning(
                "%s, line %d: %s is left as it is: {NAME} was iiswsgi 0.3's"
                " placeholder; write ${%s} (or %%%s%%) to substitute it",
                source, number, match.group(0), match.group(1),
                match.group(1))
    return found


def substitute(text: str, variables: Mapping[str, Any],
               escape_value: Optional[Callable[[str], str]] = None,
               source: str = "the template", warn_old: bool = True) -> str:
    """``text`` with its variables replaced from ``variables`` (a
    mapping); ``escape_value`` (such as :func:`xml_escape`) is applied to
    every value put in.  iiswsgi 0.3's ``{NAME}`` placeholders are
    warned about (unless ``warn_old`` is false) and left as they are."""
    names = WindowsNames(variables)
    if warn_old:
        old_placeholders(text, source, variables)

    def replace(match):
        if match.group("percent"):
            return "%"
        if match.group("dollar"):
            return "$"
        name = (match.group("windows") or match.group("braced")
                or match.group("plain"))
        value = names.get(name)
        if value is None:
            log.debug("%s: %s is not defined; left as it is", source,
                      match.group(0))
            return match.group(0)
        value = str(value)
        if not escape_value:
            return value
        try:
            return escape_value(value)
        except ValueError as error:
            raise PackageError("%s: the value of %s cannot be written: %s"
                               % (source, match.group(0), error)) from None

    return _TOKEN.sub(replace, text)


def write_xml_template(template: str, output: str,
                       variables: Mapping[str, Any], missing: str,
                       convert: Optional[Callable[[safexml.Element], str]]
                       = None, warn_old: bool = True) -> safexml.Element:
    """Write ``output`` from the XML template file ``template``: its
    variables substituted from ``variables``, values XML-escaped, and the
    result parsed (then, if given, turned by ``convert`` into the text to
    write); the parsed root.  PackageError when the template is missing
    (the message ends with ``missing``, what to do), cannot be read, or
    is not well-formed XML after substitution."""
    try:
        with open(template, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise PackageError("%s not found: %s" % (template, missing)) \
            from None
    except (OSError, UnicodeDecodeError) as error:
        raise PackageError("%s cannot be read: %s" % (template, error)) \
            from None
    text = substitute(text, variables, xml_escape, template, warn_old)
    try:
        root = safexml.parse(text, template)
    except safexml.XMLError as error:
        raise PackageError("%s (once its variables were substituted)"
                           % error) from None
    if convert is not None:
        text = convert(root)
    write_atomically(output, text)
    log.info("wrote %s", output)
    return root
