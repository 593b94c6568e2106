"""IIS's RequestFilteringModule, as web.config's
``system.webServer/security/requestFiltering`` configures it (the model's
:class:`iiswsgi.iis.webconfig.RequestFiltering`): double escaping
(404.11), denied URL sequences (404.5), requestLimits (maxUrl 404.14,
maxQueryString 404.15, maxAllowedContentLength 404.13), hidden segments
(404.8), denied file extensions (404.7).  HTTP.sys's own refusal of a
decoded URL holding a control character (400) is :func:`check_url`."""

from typing import Optional

from ..iis.paths import has_control_character
from ..iis.webconfig import RequestFiltering
from .pages import Refusal

__all__ = ["check_request", "check_url"]

_MODULE = "RequestFilteringModule"


def check_url(url_path: str) -> None:
    """Raise HTTP.sys's 400 for a decoded URL path holding a control
    character (``%00``, ``%0d%0a``, ...); IIS never routes such a URL."""
    if has_control_character(url_path):
        raise Refusal(400, 0, "The request URL is invalid.",
                      "the decoded URL holds a control character (%r)"
                      % next(c for c in url_path
                             if ord(c) < 0x20 or c == "\x7f"),
                      module="HTTP.SYS")


def check_request(filtering: RequestFiltering, url_path: str,
                  relative: str, raw_path: Optional[str] = None,
                  query: str = "",
                  content_length: Optional[int] = None) -> None:
    """Raise the Refusal IIS answers a request for ``url_path`` (decoded,
    ``relative`` under its application) with; return when it passes.

    ``raw_path``: the path as the client sent it (percent-encoded; maxUrl
    counts its bytes, denyUrlSequences looks in it and in ``url_path``);
    ``query``: the query string as sent (maxQueryString counts its bytes);
    ``content_length``: the request body's length, when known."""
    raw_path = url_path if raw_path is None else raw_path
    if not filtering.allow_double_escaping and (
            "%" in url_path or "+" in url_path):
        raise Refusal(404, 11, "The request filtering module is configured"
                      " to deny a request that contains a double escape"
                      " sequence.", module=_MODULE)
    denied = filtering.denied_sequence(raw_path, url_path)
    if denied is not None:
        raise Refusal(404, 5, "The request filtering module is configured"
                      " to deny a request that contains a URL sequence.",
                      "denyUrlSequences holds %r" % denied, module=_MODULE)
    # Raw request text is latin-1: one character a byte.
    url_bytes = len(raw_path)
    if url_bytes > filtering.max_url:
        raise Refusal(404, 14, "The request filtering module is configured"
                      " to deny a request where the URL is too long.",
                      "the URL is %d bytes; requestLimits maxUrl is %d"
                      % (url_bytes, filtering.max_url), module=_MODULE)
    query_bytes = len(query)
    if query_bytes > filtering.max_query_string:
        raise Refusal(404, 15, "The request filtering module is configured"
                      " to deny a request where the query string is too"
                      " long.", "the query string is %d bytes;"
                      " requestLimits maxQueryString is %d"
                      % (query_bytes, filtering.max_query_string),
                      module=_MODULE)
    if content_length is not None and \
            content_length > filtering.max_allowed_content_length:
        raise Refusal(404, 13, "The request filtering module is configured"
                      " to deny a request that exceeds the request content"
                      " length.", "the body is %d bytes; requestLimits"
                      " maxAllowedContentLength is %d" % (
                          content_length,
                          filtering.max_allowed_content_length),
                      module=_MODULE)
    if filtering.hidden_segment(relative) is not None:
        raise Refusal(404, 8, "The request filtering module is configured"
                      " to deny a path in the URL that contains a"
                      " hiddenSegment section.", module=_MODULE)
    if not filtering.extension_allowed(relative):
        raise Refusal(404, 7, "The request filtering module is configured"
                      " to deny the file extension.", module=_MODULE)
