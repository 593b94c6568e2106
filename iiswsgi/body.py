"""Moved to :mod:`iiswsgi.gateway.body`; this name is kept only until the
tests written against it at the same time (tests/unit/test_body.py) import
the new one.  Import :mod:`iiswsgi.gateway.body` instead."""

from .gateway.body import *  # noqa: F401,F403
from .gateway.body import __all__  # noqa: F401
