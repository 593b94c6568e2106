"""WSGI_HANDLER: the dotted name of the site's WSGI application, resolved
to the object it names."""

import importlib
import re
import sys
from typing import Any, Callable, Optional

from ..errors import IISWSGIError

__all__ = ["HandlerError", "resolve_handler"]

# One part of a dotted name: an identifier, called when followed by "()".
_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\(\))?")


class HandlerError(IISWSGIError):
    """WSGI_HANDLER is missing, malformed or names nothing usable."""


def _import_longest(text: str, parts: list, importable: int):
    """(module, how many parts it took): the longest run of the first
    ``importable`` parts that imports as a module."""
    for count in range(importable, 0, -1):
        module_name = ".".join(parts[:count])
        try:
            return importlib.import_module(module_name), count
        except ModuleNotFoundError as error:
            if error.name and (module_name == error.name
                               or module_name.startswith(error.name + ".")):
                continue  # that module does not exist: try a shorter one
            raise
    raise HandlerError("WSGI_HANDLER %r: no module %r can be imported"
                       " (sys.path is %s)" % (text, parts[0], sys.path))


def resolve_handler(name: Optional[str]) -> Callable[..., Any]:
    """The object WSGI_HANDLER names.

    ``name`` is dotted: as many leading names as can be are imported as
    modules, the rest are attributes, and a name followed by ``()`` is
    called with no arguments.  An ImportError raised inside an imported
    module is not mistaken for a missing module: it propagates.
    """
    text = (name or "").strip()
    if not text:
        raise HandlerError("WSGI_HANDLER is not set: add it to the"
                           " <appSettings> of web.config, for example"
                           ' <add key="WSGI_HANDLER" value="myapp.app" />')
    parts = text.split(".")
    for part in parts:
        if not _PART.fullmatch(part):
            raise HandlerError("WSGI_HANDLER %r is not a dotted name such as"
                               " 'package.module.app' or"
                               " 'module.make_app()'" % text)
    # Module names end at the first call; the last name is never a module.
    importable = len(parts) - 1
    for index, part in enumerate(parts[:-1]):
        if part.endswith("()"):
            importable = index
            break
    target, count = _import_longest(text, parts, importable)
    walked = [target.__name__]
    for part in parts[count:]:
        attribute = part[:-2] if part.endswith("()") else part
        try:
            target = getattr(target, attribute)
        except AttributeError:
            raise HandlerError("WSGI_HANDLER %r: %s has no attribute %r"
                               % (text, ".".join(walked), attribute)) from None
        walked.append(part)
        if part.endswith("()"):
            target = target()
    if target is None:
        raise HandlerError("WSGI_HANDLER %r is None" % text)
    if not callable(target):
        raise HandlerError("WSGI_HANDLER %r is a %s, not a WSGI application"
                           % (text, type(target).__name__))
    return target
