"""The values a WebPI feed holds, made and checked: dates, download sizes
and digests, ``file:`` URLs and URL templates, keyword and product ids."""

import hashlib
import math
import os
import re
import string
from datetime import datetime, timezone
from typing import BinaryIO, Iterable, Mapping, Optional
from urllib.request import pathname2url

from ..safexml import NOT_XML
from .errors import FeedError

__all__ = ["URL_FIELDS", "build_time", "expand_url", "file_digest",
           "file_url", "format_date", "keyword_id", "normalize_date",
           "parse_date", "requirement_name", "size_kb", "stream_digest", "xml_text"]

# The placeholders of an MSDeploy download URL template.
URL_FIELDS = ("name", "version", "msdeploy_file", "letter",
              "py_version_short", "msdeploy_package_url")

# The forms of date accepted, the same on every Python: fromisoformat
# reads only what isoformat writes on 3.10 (no "Z", no one-digit month)
# and a great deal more on 3.11, so this decides the form and
# fromisoformat the value.
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})"
                   r"(?:T(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
                   r"(Z|[+-]\d{2}:?\d{2})?)?$")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def xml_text(value: object) -> str:
    """``value`` as text XML 1.0 can hold (control characters, lone
    surrogates, U+FFFE and U+FFFF dropped)."""
    return NOT_XML.sub("", str(value))


def format_date(moment: datetime) -> str:
    """A UTC ISO 8601 timestamp with ``Z``, to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_time(environ: Optional[Mapping[str, str]] = None) -> str:
    """Now, or ``SOURCE_DATE_EPOCH`` when set (reproducible feeds)."""
    env = os.environ if environ is None else environ
    epoch = env.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return format_date(datetime.fromtimestamp(int(epoch),
                                                      timezone.utc))
        except (ValueError, OverflowError, OSError):
            raise FeedError("SOURCE_DATE_EPOCH must be a number of seconds"
                            " since 1970, not %r" % epoch) from None
    return format_date(datetime.now(timezone.utc))


def parse_date(value: object) -> Optional[datetime]:
    """The UTC moment of ``2024-01-31`` or an ISO 8601 date-time such as
    ``2024-01-31T12:00:00Z`` (seconds, their fraction and the zone
    optional; the zone ``Z``, ``+02:00`` or ``+0200``; a one-digit month,
    day or hour allowed), or None when ``value`` is none of these or no
    such moment exists."""
    match = _DATE.match(str(value).strip())
    if not match:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    if zone in (None, "Z"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    try:
        moment = datetime.fromisoformat("%s-%02d-%02dT%02d:%s:%s%s" % (
            year, int(month), int(day), int(hour or 0), minute or "00",
            second or "00", zone))
    except ValueError:                  # February 30th, hour 25, ...
        return None
    return moment.astimezone(timezone.utc)


def normalize_date(value: object, what: str = "the date") -> str:
    """``2024-01-31`` or an ISO 8601 date-time (:func:`parse_date`) as
    ``2024-01-31T00:00:00Z``; FeedError naming ``what`` otherwise."""
    moment = parse_date(value)
    if moment is None:
        raise FeedError("%s must be an ISO 8601 date such as 2024-01-31 or"
                        " 2024-01-31T12:00:00Z, not %r" % (what, value))
    return format_date(moment)


def size_kb(size: int) -> int:
    """A size in bytes as WebPI's ``<fileSize>``: KiB, rounded up."""
    return max(1, math.ceil(size / 1024))


def stream_digest(stream: BinaryIO) -> "tuple[int, str]":
    """(size in bytes, upper-case hex SHA-1) of what is left to read of
    ``stream`` (a file or an HTTP response); read errors propagate."""
    digest = hashlib.sha1()
    size = 0
    for block in iter(lambda: stream.read(1 << 20), b""):
        digest.update(block)
        size += len(block)
    return size, digest.hexdigest().upper()


def file_digest(path: str) -> "tuple[int, str]":
    """(size in bytes, upper-case hex SHA-1) of the file at ``path``."""
    with open(path, "rb") as stream:
        return stream_digest(stream)


def file_url(path: str) -> str:
    """The ``file:`` URL of a local path (``file:///C:/...`` on Windows)."""
    url = pathname2url(os.path.abspath(path))
    return "file:" + (url if url.startswith("///") else "//" + url)


def keyword_id(text: str) -> str:
    """A keyword's ``id``: its letters and digits."""
    return re.sub(r"[^A-Za-z0-9]", "", text) or "Keyword"


def requirement_name(requirement: str) -> str:
    """The project name at the start of a requirement string
    (``virtualenv>=20`` gives ``virtualenv``); FeedError when there is
    none."""
    match = _REQUIREMENT.match(requirement)
    if not match:
        raise FeedError("%r is not a project name or requirement"
                        % requirement)
    return match.group(1)


def expand_url(template: str, values: Mapping[str, object],
               what: str = "the URL template") -> str:
    """``template`` with its ``{placeholders}`` (:data:`URL_FIELDS`)
    replaced from ``values``; FeedError for an unknown one."""
    try:
        fields = [name for _, name, spec, conversion
                  in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise FeedError("%s %r is not a valid template: %s (write a literal"
                        " brace as {{ or }})" % (what, template, error)) \
            from None
    for name in fields:
        if name not in URL_FIELDS:
            raise FeedError("%s %r uses {%s}; the placeholders are %s" % (
                what, template, name,
                ", ".join("{%s}" % known for known in URL_FIELDS)))
    return template.format_map(values)


def split_keywords(value: "str | Iterable[object] | None") -> "list[str]":
    """Keywords from a list or text, split at commas, else at spaces."""
    if not value:
        return []
    words = []
    for item in [value] if isinstance(value, str) else value:
        item = str(item)
        words += item.split(",") if "," in item else item.split()
    return [word.strip() for word in words if word.strip()]


def unique(items: Iterable[str]) -> "list[str]":
    """``items`` without empty ones and without repeats (compared in any
    case), in order."""
    seen, result = set(), []
    for item in items:
        if item and item.lower() not in seen:
            seen.add(item.lower())
            result.append(item)
    return result
