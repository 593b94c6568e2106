"""The Paste entry points of ``egg:iiswsgi#iis`` (``paste.server_runner``,
``paste.server_factory``), :func:`serve`, which they and ``iiswsgi serve``
share, and :func:`load_app_spec` for ``iiswsgi serve module:app``."""

import importlib
import logging
import os
import re
import sys
from typing import Any, Callable, Mapping, Optional

from .. import logs, settings
from .errors import GatewayError
from .server import IISWSGIServer

__all__ = ["AppSpecError", "is_app_spec", "load_app_spec", "serve",
           "server_factory", "server_runner"]

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_APP_SPEC = re.compile(r"(%s(?:\.%s)*):(%s(?:\.%s)*)(\(\))?\Z" % (
    (_IDENTIFIER,) * 4))


class AppSpecError(GatewayError):
    """``iiswsgi serve MODULE:APP`` names nothing that can be served."""


def is_app_spec(text: str) -> bool:
    """True when ``text`` has the shape ``module:app`` or
    ``module:factory()`` (a Windows path such as ``C:\\site\\app.ini``
    has not)."""
    return bool(_APP_SPEC.match(text))


def load_app_spec(spec: str) -> Callable[..., Any]:
    """The WSGI application ``spec`` names: ``package.module:name`` (an
    attribute path, dotted) or ``package.module:factory()`` (called with
    no arguments), as gunicorn and waitress-serve take it.  The working
    directory comes first on ``sys.path``, as it does for ``python -m``.

    :class:`AppSpecError` says whether the module or the attribute is
    missing; an ImportError raised inside the module propagates."""
    match = _APP_SPEC.match(spec)
    if match is None:
        raise AppSpecError(
            "%r is neither an .ini file nor MODULE:APP: give a Paste Deploy"
            " ini (app.ini), or the module and the WSGI application in it,"
            " such as myproject.wsgi:application or myapp:create_app()"
            % spec)
    module_name, attributes, call = match.groups()
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name
                           or module_name.startswith(error.name + ".")):
            raise AppSpecError(
                "%s: there is no module %r to import (looked in %s): run"
                " iiswsgi serve from the folder that holds it, or add that"
                " folder to PYTHONPATH" % (spec, error.name,
                                           os.pathsep.join(sys.path)))
        raise
    walked = module_name
    for attribute in attributes.split("."):
        try:
            target = getattr(target, attribute)
        except AttributeError:
            raise AppSpecError(
                "%s: the module %s (%s) was imported, but %s has no"
                " attribute %r: name the WSGI application (or the factory"
                " that makes it, with ()) after the colon" % (
                    spec, module_name, getattr(
                        sys.modules.get(module_name), "__file__", "?"),
                    walked, attribute)) from None
        walked += "." + attribute
    if call:
        if not callable(target):
            raise AppSpecError("%s: %s is a %s, which cannot be called" % (
                spec, walked, type(target).__name__))
        target = target()
        walked += "()"
    if not callable(target):
        if call:
            problem = "returned a %s" % type(target).__name__
            advice = "make it return the application"
        else:
            problem = "is a %s" % type(target).__name__
            advice = ("if it makes the application, write %s:%s()"
                      % (module_name, attributes))
        raise AppSpecError("%s: %s %s, not a WSGI application (a callable):"
                           " %s" % (spec, walked, problem, advice))
    return target

log = logging.getLogger(__name__)


def serve(application: Callable[..., Any], log_file: Optional[str] = None,
          debug: bool = False, **options: Any) -> int:
    """Log, then run an :class:`IISWSGIServer`; return its exit status.
    ``options`` must have been checked (:func:`iiswsgi.settings.parse_options`)."""
    bound = options.get("bindAddress") is not None
    logs.protect_secrets(os.environ)
    path = logs.configure(log_file, debug=debug, to_stderr=bound)
    log.info("iiswsgi starting (pid %d, log %s)", os.getpid(), path)
    server = IISWSGIServer(application, debug=debug, **options)
    return server.run()


def _source(global_conf):
    # Paste passes the ini's path, not the section's name.
    return settings.ini_source(global_conf.get("__file__"))


def server_runner(wsgi_app: Callable[..., Any], global_conf: Mapping[str, Any],
                  **options: Any) -> None:
    """Paste ``paste.server_runner``: serve ``wsgi_app`` now."""
    parsed = settings.parse_options(options, _source(global_conf))
    parsed.setdefault("app_dir", global_conf.get("here"))
    status = serve(wsgi_app, **parsed)
    if status:
        raise SystemExit(status)


def server_factory(global_conf: Mapping[str, Any],
                   **options: Any) -> Callable[[Callable[..., Any]], None]:
    """Paste ``paste.server_factory``: a callable that serves an app."""
    parsed = settings.parse_options(options, _source(global_conf))
    parsed.setdefault("app_dir", global_conf.get("here"))

    def serve_app(wsgi_app):
        status = serve(wsgi_app, **parsed)
        if status:
            raise SystemExit(status)
    return serve_app
