"""IIS's RequestFilteringModule, as web.config's
``system.webServer/security/requestFiltering`` configures it (the model's
:class:`iiswsgi.iis.webconfig.RequestFiltering`): double escaping
(404.11), hidden segments (404.8), denied file extensions (404.7)."""

from ..iis.webconfig import RequestFiltering
from .pages import Refusal

__all__ = ["check_request"]

_MODULE = "RequestFilteringModule"


def check_request(filtering: RequestFiltering, url_path: str,
                  relative: str) -> None:
    """Raise the Refusal IIS answers a request for ``url_path`` (decoded,
    ``relative`` under its application) with; return when it passes."""
    if not filtering.allow_double_escaping and (
            "%" in url_path or "+" in url_path):
        raise Refusal(404, 11, "The request filtering module is configured"
                      " to deny a request that contains a double escape"
                      " sequence.", module=_MODULE)
    if filtering.hidden_segment(relative) is not None:
        raise Refusal(404, 8, "The request filtering module is configured"
                      " to deny a path in the URL that contains a"
                      " hiddenSegment section.", module=_MODULE)
    if not filtering.extension_allowed(relative):
        raise Refusal(404, 7, "The request filtering module is configured"
                      " to deny the file extension.", module=_MODULE)
