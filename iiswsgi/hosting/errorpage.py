"""The 500 page served on every request when the WSGI application could
not be loaded, so the process stays up instead of failing on each start."""

import html
from typing import Any, Callable, Iterable, List

from .. import logs

__all__ = ["load_error_application", "load_error_page"]


def load_error_page(message: str) -> bytes:
    """The page's HTML: ``message`` (the load error) escaped, with every
    registered secret redacted."""
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<title>500 Internal Server Error</title></head><body>\n"
            "<h1>500 Internal Server Error</h1>\n"
            "<p>The WSGI application could not be loaded:</p>\n"
            "<pre>%s</pre>\n<p>The traceback is in the iiswsgi log.</p>\n"
            "</body></html>\n" % html.escape(logs.redact(message))
            ).encode("utf-8")


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
