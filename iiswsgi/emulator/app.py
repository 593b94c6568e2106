"""The emulator as a WSGI application run by an HTTP server: each request
routed to an IIS application and handler (:mod:`.routing`), filtered
(:mod:`.filtering`), and answered with a static file (:mod:`.static`), the
answer of a FastCGI process (:mod:`.fastcgi_answer`) or one of IIS's own
error pages (:mod:`.pages`)."""

import logging
import os
import threading
import time
from typing import Callable, List, Mapping, Optional

from ..iis.paths import decoded_path, origin_form, printable
from ..iis.webconfig import Configuration
from .access import Answer
from .config import ConfigError, FastCgiSettings, Site, WebConfigCache
from .fastcgi_answer import FastCgiAnswer
from .filtering import check_request, check_url
from .pages import Page, Refusal
from .pool import Pool, Pools
from .routing import (fastcgi_application, fastcgi_params, handler_for,
                      raw_request_uri, route)
from .static import StaticFile

__all__ = ["Emulator"]

log = logging.getLogger("iiswsgi.emulator.app")


class Emulator:
    """A WSGI application standing in for IIS serving ``site`` (a
    config.Site).  ``environ`` is the environment FastCGI processes start
    with (os.environ by default)."""

    def __init__(self, site: Site, environ: Optional[Mapping] = None,
                 local_addr: str = "127.0.0.1") -> None:
        self.site = site
        self.environ = dict(os.environ if environ is None else environ)
        self.local_addr = local_addr
        self.web_configs = WebConfigCache()
        self._pools = Pools(self.environ)
        self._logged: set = set()
        self._logged_lock = threading.Lock()

    @property
    def pools(self) -> List[Pool]:
        """The process pools started so far."""
        return self._pools.all()

    def close(self) -> None:
        """Stop every FastCGI process."""
        self._pools.close()

    def __call__(self, environ: dict, start_response: Callable) -> Answer:
        started = time.monotonic()
        # An absolute-form target (GET http://host/path) is served as its
        # path, as IIS serves it.
        raw_uri = origin_form(raw_request_uri(environ))
        try:
            answer = self._answer(environ, raw_uri)
        except Refusal as refusal:
            answer = Page(refusal, environ, raw_uri)
        except ConfigError as error:
            answer = Page(Refusal(500, 19, "The requested page cannot be"
                                  " accessed because the related"
                                  " configuration data for the page is"
                                  " invalid.", str(error), "0x8007000d"),
                          environ, raw_uri)
        return answer.respond(start_response, environ, raw_uri, started)

    def root_configuration(self) -> Optional[Configuration]:
        """The configuration of the site's own folder, where the FastCGI
        applications are registered from without applicationHost.config
        (None with one)."""
        if self.site.apphost is not None:
            return None
        return self.web_configs.configuration(self.site.root, "")

    def registrations(self, root_config: Optional[Configuration] = None
                      ) -> List[FastCgiSettings]:
        """The FastCGI applications registered now (Site.registrations,
        from ``root_config`` or else :meth:`root_configuration`); each one
        not seen before is logged."""
        if root_config is None:
            root_config = self.root_configuration()
        registered = self.site.registrations(root_config)
        for settings in registered:
            with self._logged_lock:
                new = settings.key not in self._logged
                self._logged.add(settings.key)
            if new:
                log.info("registered FastCGI application %s from %s%s",
                         printable(settings.script_processor),
                         self.site.apphost or os.path.join(
                             self.site.root.physical_path, "web.config"),
                         "" if self.site.apphost else
                         " (as install_msdeploy and iiswsgi enable would"
                         " register it; a web.config in a sub-folder"
                         " registers nothing)")
        return registered

    def registrations_at_start(self) -> None:
        """Log the FastCGI applications registered when the emulator
        starts; a broken web.config is logged here and answered 500.19
        later, when a request needs it."""
        try:
            if not self.registrations():
                log.warning("no FastCGI application is registered (%s):"
                            " only static files will be served",
                            self.site.apphost or "the site's web.config"
                            " has no FastCGI handler")
        except ConfigError as error:
            log.warning("cannot read the registrations yet: %s", error)

    def _answer(self, environ, raw_uri):
        raw_path, _, query = raw_uri.partition("?")
        # HTTP.sys refuses a bad URL before IIS maps it.
        check_url(decoded_path(raw_path))
        where = route(self.site, raw_path)
        config = self.web_configs.configuration(
            where.application, where.relative, where.parents)
        length = environ.get("CONTENT_LENGTH")
        check_request(config.request_filtering, where.url_path,
                      where.relative, raw_path, query,
                      int(length) if length and length.isdigit() else None)
        method = environ.get("REQUEST_METHOD", "GET")
        handler = handler_for(config.handlers, method, where.relative)
        if handler is None or not handler.is_fastcgi:
            return StaticFile(where.application, where.relative,
                              where.url_path, method, config.static_content,
                              environ)
        root_config = self.root_configuration()
        self.registrations(root_config)
        settings = fastcgi_application(self.site, handler, root_config)
        params = fastcgi_params(self.site, where, environ, raw_uri,
                                self.local_addr)
        return FastCgiAnswer(self._pools.pool(settings), handler, params,
                             environ)
