"""The emulator as a WSGI application run by an HTTP server: each request
routed to an IIS application and handler (:mod:`.routing`), filtered
(:mod:`.filtering`), and answered with a static file (:mod:`.static`), the
answer of a FastCGI process (:mod:`.fastcgi_answer`) or one of IIS's own
error pages (:mod:`.pages`)."""

import os
import time
from typing import Callable, List, Mapping, Optional

from .access import Answer
from .config import ConfigError, Site, WebConfigCache
from .fastcgi_answer import FastCgiAnswer
from .filtering import check_request
from .pages import Page, Refusal
from .pool import Pool, Pools
from .routing import (fastcgi_application, fastcgi_params, handler_for,
                      raw_request_uri, route)
from .static import StaticFile

__all__ = ["Emulator"]


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

    @property
    def pools(self) -> List[Pool]:
        """The process pools started so far."""
        return self._pools.all()

    def close(self) -> None:
        """Stop every FastCGI process."""
        self._pools.close()

    def __call__(self, environ: dict, start_response: Callable) -> Answer:
        started = time.monotonic()
        raw_uri = raw_request_uri(environ)
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

    def _answer(self, environ, raw_uri):
        where = route(self.site, raw_uri.partition("?")[0])
        config = self.web_configs.configuration(
            where.application, where.relative, where.parents)
        check_request(config.request_filtering, where.url_path,
                      where.relative)
        method = environ.get("REQUEST_METHOD", "GET")
        handler = handler_for(config.handlers, method, where.relative)
        if handler is None or not handler.is_fastcgi:
            return StaticFile(where.application, where.relative,
                              where.url_path, method, config.static_content)
        settings = fastcgi_application(self.site, handler, config)
        params = fastcgi_params(self.site, where, environ, raw_uri,
                                self.local_addr)
        return FastCgiAnswer(self._pools.pool(settings), handler, params,
                             environ)
