"""Which IIS application and handler take a request, and what IIS's
FastCGI module sends the handler's process: the server variables of
:mod:`iiswsgi.iis.variables` and the request headers."""

import os
from dataclasses import dataclass, field
from typing import List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from ..iis.paths import decoded_path
from ..iis.variables import server_variables
from ..iis.webconfig import Configuration, FastCgiApplication, Handler
from .config import Application, Site
from .pages import NOT_FOUND, Refusal

__all__ = ["Route", "fastcgi_application", "fastcgi_params", "handler_for",
           "raw_request_uri", "route"]


@dataclass
class Route:
    """A request's place in the site: the decoded ``url_path``, the
    ``application`` it is under, the path ``relative`` to it, and the
    applications above that one (``parents``, outermost first), whose
    web.config files it inherits."""
    url_path: str
    application: Application
    relative: str
    parents: List[Application] = field(default_factory=list)


def raw_request_uri(environ: Mapping) -> str:
    """The request's path and query as the client sent them (REQUEST_URI,
    or rebuilt from PATH_INFO and QUERY_STRING)."""
    return environ.get("REQUEST_URI") or (
        quote(environ.get("PATH_INFO", "").encode("latin-1"))
        + ("?" + environ["QUERY_STRING"]
           if environ.get("QUERY_STRING") else ""))


def route(site: Site, raw_path: str) -> Route:
    """The Route of a request for ``raw_path`` (percent-encoded, without
    the query); Refusal 404 when no application of ``site`` takes it."""
    url_path = decoded_path(raw_path)
    application, relative = site.application_for(url_path)
    if application is None:
        raise Refusal(404, 0, NOT_FOUND, "no application of site %r takes"
                      " %s (its applications: %s)" % (
                          site.name, url_path, ", ".join(sorted(
                              app.path for app in site.applications))))
    return Route(url_path, application, relative,
                 site.parents_of(application))


def handler_for(handlers: Sequence[Handler], method: str,
                relative: str) -> Optional[Handler]:
    """The first of ``handlers`` (in the order IIS tries them) that takes
    ``method`` requests for ``relative``, or None."""
    for handler in handlers:
        if handler.matches(method, relative):
            return handler
    return None


def fastcgi_application(site: Site, handler: Handler,
                        root_config: Optional[Configuration] = None
                        ) -> FastCgiApplication:
    """The registered ``<fastCgi><application>`` whose processes run
    ``handler`` (``root_config``: the configuration of the site's folder,
    the registrations without applicationHost.config); Refusal 500, IIS's
    own, when none is registered for it: IIS starts nothing else."""
    settings = site.settings_for(handler, root_config)
    if settings is None:
        where = (site.apphost if site.apphost is not None else
                 "the site's own web.config (%s)" % os.path.join(
                     site.root.physical_path, "web.config"))
        raise Refusal(
            500, 0, "%s scriptProcessor could not be found in <fastCGI>"
            " application configuration." % handler.name,
            "handler %r: its scriptProcessor %r matches no registered"
            " <fastCgi><application> (fullPath|arguments) in %s; register"
            " it there (iiswsgi enable, install_msdeploy), or remove the"
            " handler from %s" % (
                handler.name, handler.script_processor, where,
                handler.source or "its web.config"),
            "0x80070585", handler.name, "FastCgiModule")
    return settings


def fastcgi_params(site: Site, where: Route, environ: Mapping, raw_uri: str,
                   local_addr: str) -> List[Tuple[bytes, bytes]]:
    """The FastCGI parameters of the request ``environ`` (a WSGI environ
    from the HTTP server): IIS's server variables, then the request
    headers byte for byte."""
    host = environ.get("HTTP_HOST", "")
    name, _, port = host.rpartition(":")
    server_name = name if port.isdigit() else host
    application = where.application
    variables = server_variables(
        where.url_path, raw_uri, application.physical_path,
        "" if application.path == "/" else application.path,
        site.site_id, environ.get("REQUEST_METHOD", "GET"),
        environ.get("CONTENT_LENGTH"), server_name or local_addr,
        environ.get("SERVER_PORT", "80"),
        environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        environ.get("REMOTE_ADDR", ""), environ.get("REMOTE_PORT", ""),
        local_addr)
    if environ.get("REMOTE_HOST"):
        variables["REMOTE_HOST"] = environ["REMOTE_HOST"]
    if environ.get("CONTENT_TYPE"):
        variables["CONTENT_TYPE"] = environ["CONTENT_TYPE"]
    params = [(name.encode("ascii"), value.encode("utf-8"))
              for name, value in variables.items()]
    # Request headers, byte for byte as they came (PEP 3333 keeps them as
    # latin-1 text).
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            params.append((name.encode("latin-1"), value.encode("latin-1")))
    return params
