"""web.config: written at install time from ``web.config.in``, then read
for the FastCGI application to register and the handler IIS runs."""

import logging
from dataclasses import dataclass
from typing import Mapping, Optional

from ..iis import webconfig as webconfig_model
from ..iis.webconfig import (ConfigError, FastCgiApplication, Handler,
                              fastcgi_handlers, find_application)
from .errors import PackageError
from .template import write_xml_template

__all__ = ["FastCgiApplication", "Handler", "WebConfig", "read_web_config",
           "write_web_config"]

log = logging.getLogger("iiswsgi.msdeploy.webconfig")


@dataclass
class WebConfig:
    """What install_msdeploy needs of a web.config, read through the IIS
    model: its FastCGI applications and its FastCGI handlers."""
    path: str
    fastcgi_applications: list      # iis.webconfig.FastCgiApplication
    handlers: list                  # iis.webconfig.Handler, FastCGI ones

    def application_for(self, handler: Handler
                        ) -> Optional[FastCgiApplication]:
        """The fastCgi application a handler names, or None."""
        return find_application(self.fastcgi_applications, handler)


def write_web_config(template: str, output: str,
                     variables: Mapping[str, object]) -> WebConfig:
    """Write ``output`` from ``template``, values XML-escaped."""
    write_xml_template(template, output, variables,
                       "install_msdeploy writes web.config from it")
    return read_web_config(output)


def read_web_config(path: str) -> WebConfig:
    """The FastCGI applications (``system.webServer/fastCgi``) and FastCGI
    handlers (``system.webServer/handlers``) in effect at the folder of the
    web.config at ``path``, read as IIS reads them; PackageError (naming
    the file, line and column) when it cannot be."""
    try:
        config = webconfig_model.read_web_config(path)
    except ConfigError as error:
        raise PackageError(str(error)) from error
    handlers = [handler for handler in fastcgi_handlers(config.handlers)
                if handler.script_processor]
    return WebConfig(path, config.fastcgi_applications, handlers)
