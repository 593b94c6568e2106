"""Moved to :mod:`iiswsgi.gateway.responder`; this name is kept only until the
tests written against it at the same time (tests/unit/test_responder.py) import
the new one.  Import :mod:`iiswsgi.gateway.responder` instead."""

from .gateway.responder import *  # noqa: F401,F403
from .gateway.responder import __all__  # noqa: F401
