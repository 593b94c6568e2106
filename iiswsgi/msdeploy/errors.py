"""The error of the Web Deploy package layer."""

from ..errors import IISWSGIError

__all__ = ["PackageError"]


class PackageError(IISWSGIError):
    """A package file is missing or wrong: the message names the file, the
    element or parameter, and the problem."""
