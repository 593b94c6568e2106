"""The exceptions iiswsgi raises on purpose: one base, and a subclass per
layer defined in that layer's module (the FastCGI protocol, the IIS model,
the server settings, the gateway, hosting, packaging, the emulator).

Catch :class:`IISWSGIError` to handle any of them; each keeps the
standard base it had before (ValueError, OSError, ...) so older
``except`` clauses still match.
"""

__all__ = ["IISWSGIError"]


class IISWSGIError(Exception):
    """Base of every error iiswsgi raises on purpose.  The message says
    what was wrong, where, and what to do about it."""
