"""URL paths as IIS reads them: a path under a prefix (an application's
virtual path, a ``<location path>``), compared in any case on a segment
boundary (:func:`split_under`); ``.`` and ``..`` segments resolved
(:func:`remove_dot_segments`); the path of a request target in any form
(:func:`origin_form`); IIS's ``%uXXXX`` escapes (:func:`expand_percent_u`)
and backslashes (:func:`iis_normalized`); the decoded path of a raw request
URI as IIS decodes it for URL and PATH_INFO, UTF-8 (:func:`decoded_path`);
text from a request made safe for a log line (:func:`printable`)."""

import re
from typing import Optional, Tuple
from urllib.parse import unquote

__all__ = ["decoded_path", "expand_percent_u", "has_control_character",
           "iis_normalized", "origin_form", "printable",
           "remove_dot_segments", "split_under"]

_PERCENT_U = re.compile(r"%[uU]([0-9A-Fa-f]{4})")
# C0 controls, DEL, C1 controls, and the Unicode line and paragraph
# separators: what can end or forge a log line, or move the cursor.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What HTTP.sys refuses in a decoded URL: C0 controls and DEL.
_URL_CONTROL = re.compile("[\\x00-\\x1f\\x7f]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def split_under(path: str, prefix: str) -> Optional[Tuple[str, str]]:
    """``(the part of path that is prefix, the rest)`` when ``path`` is
    ``prefix`` or under it on a segment boundary ("/"), compared in any
    case and keeping ``path``'s own spelling; None when it is not under it.
    Every path is under the empty prefix."""
    length = len(prefix)
    if path[:length].casefold() == prefix.casefold() and (
            len(path) == length or not prefix or path[length] == "/"):
        return path[:length], path[length:]
    return None


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: resolve ``.`` and ``..`` segments, so the
    application routes on the same path the web server mapped."""
    # A dot segment starts the path or follows a slash.
    if "/." not in path and path[:1] != ".":
        return path
    output = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    result = "/".join(output)
    if path.startswith("/") and not result.startswith("/"):
        result = "/" + result
    return result



def decoded_path(raw_path: str) -> str:
    """The path IIS serves for ``raw_path`` (percent-encoded, without the
    query): percent-decoded as UTF-8, as IIS decodes URL and PATH_INFO (a
    byte that is not UTF-8 becomes U+FFFD), ``%uXXXX`` escapes too,
    backslashes as slashes and dot segments resolved; "/" for an empty
    one."""
    return iis_normalized(
        unquote(expand_percent_u(raw_path), encoding="utf-8",
                errors="replace") or "/")


def origin_form(target: str) -> str:
    """The path and query of a request target: an absolute-form one
    (``GET http://host/path?q``, RFC 9112 section 3.2.2) gives
    ``/path?q`` (``/`` when it has no path), as IIS serves the same path
    for both forms; any other target is given back as it is."""
    if target.startswith("/"):
        return target
    found = _SCHEME.match(target)
    if found is None:
        return target
    rest = target[found.end():]
    for index, char in enumerate(rest):
        if char in "/?#":
            rest = rest[index:]
            break
    else:
        return "/"
    if rest.startswith("/"):
        return rest
    return "/" + rest


def _percent_u(match):
    # One code unit: surrogates are paired by expand_percent_u first.
    unit = int(match.group(1), 16)
    if 0xD800 <= unit <= 0xDFFF:
        unit = 0xFFFD
    return "".join("%%%02X" % byte for byte in chr(unit).encode("utf-8"))


def _pair(match):
    high, low = int(match.group(1), 16), int(match.group(2), 16)
    code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
    return "".join("%%%02X" % byte for byte in chr(code).encode("utf-8"))


_SURROGATES = re.compile(r"%[uU](D[89ABab][0-9A-Fa-f]{2})"
                         r"%[uU](D[C-Fc-f][0-9A-Fa-f]{2})")


def expand_percent_u(raw: str) -> str:
    """``raw`` (percent-encoded) with IIS's non-standard ``%uXXXX`` escapes
    (a UTF-16 code unit) turned into the standard percent-encoded UTF-8 of
    the character, as IIS decodes them: ``%u00E9`` is ``%C3%A9``, a
    surrogate pair one character, a lone surrogate U+FFFD."""
    if "%u" not in raw and "%U" not in raw:
        return raw
    return _PERCENT_U.sub(_percent_u, _SURROGATES.sub(_pair, raw))


def iis_normalized(path: str) -> str:
    """A decoded path as IIS maps it: backslashes are slashes (IIS serves
    ``/a\\..\\b`` as ``/b``), then dot segments resolved."""
    return remove_dot_segments(path.replace("\\", "/"))


def has_control_character(text: str) -> bool:
    """Whether ``text`` (a decoded URL path) holds a C0 control character
    or DEL, which IIS (HTTP.sys) refuses with 400 Bad Request."""
    return _URL_CONTROL.search(text) is not None


def printable(text: object) -> str:
    """``text`` (made a str) safe for one log line: every control
    character (C0, DEL, C1, U+2028, U+2029) written as an escape
    (``\\x0d``, ``\\u2028``), so a request cannot end a line or forge
    the next one; everything else as it is."""
    if not isinstance(text, str):
        text = str(text)

    def escape(match):
        code = ord(match.group(0))
        return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code
    return _CONTROL.sub(escape, text)
