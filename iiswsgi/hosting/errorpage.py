"""The 500 page served on every request when the WSGI application could
not be loaded, so the process stays up instead of failing on each start.

The page names the load error with every secret redacted
(:mod:`iiswsgi.redaction`: by name, by value and by shape, so the password
of a DATABASE_URL in the message is hidden too).  The traceback is shown
only when the WSGI_DEBUG setting is true: clients see the page."""

import logging
import os
import traceback
from typing import Any, Callable, Iterable, List, Optional

from .. import settings as options_table
from .. import logs
from ..gateway.responder import error_page

__all__ = ["load_error_application", "load_error_page", "show_tracebacks"]

log = logging.getLogger(__name__)


def show_tracebacks(environ: Optional[dict] = None) -> bool:
    """Whether the WSGI_DEBUG setting (in ``environ``, default the
    process environment, where the appSettings are) asks for tracebacks on
    the page; a bad value is logged and taken as false."""
    env = os.environ if environ is None else environ
    opt = next(o for o in options_table.OPTIONS if o.env == "WSGI_DEBUG")
    raw = env.get(opt.env)
    if raw is None:
        return False
    try:
        return bool(options_table.convert(opt, raw,
                                          options_table.ENVIRONMENT))
    except options_table.SettingsError as error:
        log.warning("ignoring %s", error)
        return False


def load_error_page(message: str, error: Optional[BaseException] = None,
                    show_traceback: Optional[bool] = None) -> bytes:
    """The page's HTML: ``message`` (the load error) escaped, with every
    secret redacted; with ``show_traceback`` (None: the WSGI_DEBUG
    setting), ``error``'s traceback too."""
    import html  # for a site that cannot start only (html.entities: ~10 ms)
    if show_traceback is None:
        show_traceback = show_tracebacks()
    text = message
    after = html.escape(logs.where_logged())
    if show_traceback and error is not None:
        text += "\n\n" + "".join(traceback.format_exception(
            type(error), error, error.__traceback__))
        after = "WSGI_DEBUG is true: this page shows the traceback."
    return error_page(500, "The WSGI application could not be loaded:",
                      text, after)


def load_error_application(message: str,
                           error: Optional[BaseException] = None
                           ) -> Callable[..., Iterable[bytes]]:
    """A WSGI application answering every request with the load-error page
    for ``message`` (and ``error``, whose traceback it shows when
    WSGI_DEBUG is true)."""
    page = load_error_page(message, error)

    def failed(environ: dict, start_response: Callable[..., Any]
               ) -> List[bytes]:
        start_response("500 Internal Server Error", [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(page)))])
        return [page]
    return failed
