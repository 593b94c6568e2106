"""Readers of one attribute of a configuration element, each raising a
ConfigError that names the file, line, column, attribute and value."""

from __future__ import annotations

from typing import Sequence, TypeVar, Union

from ... import safexml
from .errors import error_at

__all__ = ["boolean", "choice", "integer", "required"]

_T = TypeVar("_T")


def boolean(path: str, element: safexml.Element, name: str,
            default: _T) -> Union[bool, _T]:
    """Attribute ``name`` as true or false (in any case), ``default``
    when it is not there."""
    text = element.get(name)
    if text is None:
        return default
    value = text.strip().casefold()
    if value not in ("true", "false"):
        raise error_at(path, element, "%s=%r is not true or false"
                        % (name, text))
    return value == "true"


def integer(path: str, element: safexml.Element, name: str, default: _T,
            low: int, high: int, what: str = "") -> Union[int, _T]:
    """Attribute ``name`` as a whole number from ``low`` to ``high``,
    ``default`` when it is not there; ``what`` ends the error message
    (e.g. " for handler 'php'")."""
    text = element.get(name)
    if text is None:
        return default
    if not text.strip().isdigit():
        raise error_at(path, element, "%s=%r%s is not a whole number"
                        % (name, text, what))
    number = int(text.strip())
    if not low <= number <= high:
        raise error_at(path, element, "%s=%d%s is outside %d-%d"
                        % (name, number, what, low, high))
    return number


def choice(path: str, element: safexml.Element, name: str, default: str,
           choices: Sequence[str]) -> str:
    """Attribute ``name`` as one of ``choices`` (matched in any case, given
    back as spelt there), ``default`` when it is not there."""
    text = element.get(name)
    if text is None:
        return default
    for option in choices:
        if option.casefold() == text.strip().casefold():
            return option
    raise error_at(path, element, "%s=%r is not one of %s"
                    % (name, text, ", ".join(choices)))


def required(path: str, element: safexml.Element, name: str,
             what: str) -> str:
    """Attribute ``name`` of a collection entry (``what``, e.g. "a
    <mimeMap>"), which must be there and not blank."""
    value = element.get(name)
    if value is None or not value.strip():
        raise error_at(path, element, "%s has no %s attribute: every entry"
                        " of this collection needs one" % (what, name))
    return value
