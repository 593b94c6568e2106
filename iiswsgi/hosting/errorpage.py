"""The 500 page served on every request when the WSGI application could
not be loaded, so the process stays up instead of failing on each start."""

from typing import Any, Callable, Iterable, List

from .. import logs
from ..gateway.responder import error_page

__all__ = ["load_error_application", "load_error_page"]


def load_error_page(message: str) -> bytes:
    """The page's HTML: ``message`` (the load error) escaped, with every
    registered secret redacted."""
    return error_page(500, "The WSGI application could not be loaded:",
                      message, logs.where_logged())


def load_error_application(message: str) -> Callable[..., Iterable[bytes]]:
    """A WSGI application answering every request with the load-error page
    for ``message``."""
    page = load_error_page(message)

    def failed(environ: dict, start_response: Callable[..., Any]
               ) -> List[bytes]:
        start_response("500 Internal Server Error", [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(page)))])
        return [page]
    return failed
