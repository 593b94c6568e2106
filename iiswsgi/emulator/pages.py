"""IIS's own answers: :class:`Refusal` (a status and substatus IIS gives
itself, as 404.7 or 500.19) and the detailed error page IIS shows a local
request for it."""

import html
import http
from typing import Iterator, List, Mapping, Optional, Tuple

from ..errors import IISWSGIError
from .access import Answer

__all__ = ["Page", "Refusal", "render"]

NOT_FOUND = ("The resource you are looking for has been removed, had its"
             " name changed, or is temporarily unavailable.")


class Refusal(IISWSGIError):
    """An answer IIS gives itself: ``status``.``substatus``, IIS's
    ``message``, what happened (``detail``), the HRESULT (``code``), and
    the handler and module that refused."""

    def __init__(self, status: int, substatus: int, message: str,
                 detail: str = "", code: Optional[str] = None,
                 handler: Optional[str] = None,
                 module: str = "IIS Web Core") -> None:
        IISWSGIError.__init__(self, message)
        self.status = status
        self.substatus = substatus
        self.message = message
        self.detail = detail
        self.code = code
        self.handler = handler
        self.module = module


def render(refusal: Refusal, host: str, raw_uri: str
           ) -> Tuple[str, List[Tuple[str, str]], bytes]:
    """(status line, headers, body) of IIS's detailed error page for
    ``refusal`` of a request for ``raw_uri`` to ``host``."""
    reason = http.HTTPStatus(refusal.status).phrase
    title = "HTTP Error %d.%d - %s" % (refusal.status, refusal.substatus,
                                       reason)
    rows = [("Module", refusal.module)]
    if refusal.handler:
        rows.append(("Handler", refusal.handler))
    if refusal.code:
        rows.append(("Error Code", refusal.code))
    rows.append(("Requested URL", "http://%s%s" % (host, raw_uri)))
    table = "".join("<tr><th>%s</th><td>%s</td></tr>\n" % (
        html.escape(name), html.escape(value)) for name, value in rows)
    detail = ("<pre>%s</pre>\n" % html.escape(refusal.detail)
              if refusal.detail else "")
    body = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        "<title>IIS 10.0 Detailed Error - %s</title></head>\n<body>\n"
        "<h1>%s</h1>\n<h2>%s</h2>\n%s<table>\n%s</table>\n"
        "<p>Shown by iiswsgi emulate, standing in for IIS.</p>\n"
        "</body></html>\n" % (
            html.escape(title), html.escape(title),
            html.escape(refusal.message), detail, table)).encode("utf-8")
    headers = [("Content-Type", "text/html; charset=utf-8"),
               ("Content-Length", str(len(body)))]
    if refusal.status == 503:
        headers.append(("Retry-After", "1"))
    return "%d %s" % (refusal.status, reason), headers, body


class Page(Answer):
    """The error page of ``refusal``, as an answer."""

    def __init__(self, refusal: Refusal, environ: Mapping,
                 raw_uri: str) -> None:
        self.status = refusal.status
        self.status_line, self.headers, self.body = render(
            refusal, environ.get("HTTP_HOST", "localhost"), raw_uri)

    def __iter__(self) -> Iterator[bytes]:
        self._start_response(self.status_line, self.headers)
        self.sent = len(self.body)
        yield self.body
