"""Register a web.config's ``<fastCgi><application>`` entries in
applicationHost.config: IIS does not honour them in web.config (the section
is AppHostOnly), so they are added with appcmd, replacing an entry with the
same fullPath and arguments (compared in any case, as IIS does).

Without appcmd (not Windows, or IIS not installed) the commands that would
have run are logged and nothing else happens.
"""

import logging
import shlex
from typing import TYPE_CHECKING, List, Sequence, Union

from ..iis import appcmd as appcmd_module
from ..iis.webconfig import FastCgiApplication

if TYPE_CHECKING:
    from .webconfig import WebConfig

__all__ = ["planned_commands", "register_applications"]

log = logging.getLogger("iiswsgi.msdeploy.register")


def planned_commands(application: FastCgiApplication) -> List[List[str]]:
    """The appcmd argument lists that register ``application``."""
    return appcmd_module.add_fastcgi_application_commands(
        application.full_path, application.arguments,
        environment_variables=application.environment_variables,
        **application.attributes)


def register_applications(web_config: "WebConfig",
                          appcmd: Union[str, Sequence[str], None] = None
                          ) -> int:
    """Register every FastCGI application of ``web_config`` (a
    :class:`~.webconfig.WebConfig`); how many were registered (0 when
    appcmd is not there)."""
    if not web_config.fastcgi_applications:
        log.warning("%s has no <system.webServer><fastCgi><application>:"
                    " no FastCGI application to register", web_config.path)
        return 0
    try:
        command = appcmd_module.Appcmd(appcmd)
    except appcmd_module.AppcmdNotFound as error:
        log.warning("%s; the FastCGI applications of %s are not"
                    " registered. appcmd would have been run as:", error,
                    web_config.path)
        for application in web_config.fastcgi_applications:
            for words in planned_commands(application):
                log.warning("  appcmd %s", shlex.join(words))
        return 0
    existing = appcmd_module.list_fastcgi_applications(command)
    for application in web_config.fastcgi_applications:
        for entry in existing:
            if appcmd_module.same_key(entry, application.full_path,
                                      application.arguments):
                log.info("removing the registered FastCGI application"
                         " %s|%s to replace it", entry["fullPath"],
                         entry["arguments"])
                appcmd_module.remove_fastcgi_application(
                    entry["fullPath"], entry["arguments"], appcmd=command)
        appcmd_module.add_fastcgi_application(
            application.full_path, application.arguments, appcmd=command,
            environment_variables=application.environment_variables,
            **application.attributes)
    return len(web_config.fastcgi_applications)
