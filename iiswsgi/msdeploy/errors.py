"""The errors of the package model."""

__all__ = ["PackageError"]


class PackageError(Exception):
    """A package file is missing or wrong: the message names the file, the
    element or parameter, and the problem."""
