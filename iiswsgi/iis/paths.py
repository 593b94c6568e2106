"""URL paths as IIS reads them: a path under a prefix (an application's
virtual path, a ``<location path>``), compared in any case on a segment
boundary (:func:`split_under`); ``.`` and ``..`` segments resolved
(:func:`remove_dot_segments`); the decoded path of a raw request URI as IIS
decodes it for URL and PATH_INFO, UTF-8 (:func:`decoded_path`)."""

from typing import Optional, Tuple
from urllib.parse import unquote

__all__ = ["decoded_path", "remove_dot_segments", "split_under"]


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
    if "." not in path:
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
    byte that is not UTF-8 becomes U+FFFD), with dot segments resolved;
    "/" for an empty one."""
    return remove_dot_segments(
        unquote(raw_path, encoding="utf-8", errors="replace") or "/")
