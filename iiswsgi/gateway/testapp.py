"""``egg:iiswsgi#test_app``: a page listing the WSGI environ, to check a
deployment."""

import html
from typing import Any, Callable, Dict, List

__all__ = ["make_test_app", "test_app"]


def test_app(environ: Dict[str, Any],
             start_response: Callable[..., Any]) -> List[bytes]:
    """A page listing the WSGI environ, to check a deployment."""
    rows = "".join(
        "<tr><th>%s</th><td>%s</td></tr>\n" % (
            html.escape(key, quote=False),
            html.escape(repr(environ[key]), quote=False))
        for key in sorted(environ))
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<title>iiswsgi test application</title></head><body>\n"
            "<h1>iiswsgi test application</h1>\n"
            "<p>This page was served through the iiswsgi FastCGI gateway."
            "</p>\n<table>\n%s</table>\n</body></html>\n" % rows)
    body = page.encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]


def make_test_app(global_conf: Dict[str, Any],
                  **local_conf: Any) -> Callable[..., List[bytes]]:
    """Paste ``paste.app_factory`` for :func:`test_app`."""
    return test_app
