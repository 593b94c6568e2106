"""The error every reader of IIS configuration raises, and the helpers
that make one say where (file, line, column) and what to do."""

from __future__ import annotations

from typing import Optional

from ... import safexml
from ...errors import IISWSGIError

__all__ = ["ConfigError", "error_at", "xml_error"]


class ConfigError(IISWSGIError, ValueError):
    """A configuration file that cannot be used as it is: ``path``,
    ``line`` and ``column`` (from 1; 0 when unknown) say where, the message
    what is wrong and what to do."""

    def __init__(self, problem: str, path: str = "", line: int = 0,
                 column: int = 0, message: Optional[str] = None) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.problem = problem
        if message is None and path and line:
            message = "%s: %s (line %d, column %d)" % (path, problem, line,
                                                     column)
        elif message is None:
            message = "%s: %s" % (path, problem) if path else problem
        ValueError.__init__(self, message)

    @property
    def location(self) -> str:
        """``file:line:column``."""
        return "%s:%d:%d" % (self.path, self.line, self.column)


def error_at(path: str, element: Optional[safexml.Element],
             problem: str) -> ConfigError:
    """The ConfigError for ``problem`` at ``element``'s start tag in the
    file at ``path``."""
    return ConfigError(problem, path, getattr(element, "line", 0),
                       getattr(element, "column", 0))


def xml_error(error: safexml.XMLError, what: str) -> ConfigError:
    """The ConfigError for a safexml.XMLError in a ``what`` (e.g.
    "web.config"): its message (file, line, column, problem) and what to
    do."""
    if "DOCTYPE" in error.problem:
        fix = "remove it: a %s never needs one" % what
    else:
        fix = "IIS cannot read it either (HTTP 500.19): fix the XML there"
    return ConfigError(error.problem, error.source, error.line,
                       error.column, "%s; %s" % (error, fix))
