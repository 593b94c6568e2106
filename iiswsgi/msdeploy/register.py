"""Register a web.config's ``<fastCgi><application>`` entries in
applicationHost.config: IIS does not honour them in web.config (the section
is AppHostOnly), so they are added with appcmd, replacing an entry with the
same fullPath and arguments (compared in any case, as IIS does).

A wfastcgi-style web.config has no ``<fastCgi>``: its handler's
``scriptProcessor="C:\\...\\python.exe|-m iiswsgi"`` names the application,
which is then registered with those fullPath and arguments (and
iiswsgi enable's default attributes), so IIS finds what the handler names.

Without appcmd (not Windows, or IIS not installed) the commands that would
have run are logged and nothing else happens.
"""

import logging
import os
import shlex
from typing import TYPE_CHECKING, List, Sequence, Union

from ..iis import appcmd as appcmd_module
from ..iis.webconfig import FastCgiApplication
from ..registration import ARGUMENTS, DEFAULT_ATTRIBUTES

if TYPE_CHECKING:
    from .webconfig import WebConfig

__all__ = ["applications_to_register", "planned_commands",
           "register_applications"]

log = logging.getLogger("iiswsgi.msdeploy.register")


def planned_commands(application: FastCgiApplication) -> List[List[str]]:
    """The appcmd argument lists that register ``application``."""
    return appcmd_module.add_fastcgi_application_commands(
        application.full_path, application.arguments,
        environment_variables=application.environment_variables,
        **application.attributes)


def _is_iiswsgi(arguments):
    return " ".join(arguments.split()).casefold() == ARGUMENTS.casefold()


def applications_to_register(web_config: "WebConfig"
                             ) -> List[FastCgiApplication]:
    """The ``<fastCgi><application>`` entries of ``web_config``, then one
    for each handler naming ``python.exe|-m iiswsgi`` that none of them
    is (the wfastcgi style), in order, without duplicates."""
    applications = list(web_config.fastcgi_applications)
    for handler in web_config.handlers:
        if not _is_iiswsgi(handler.arguments) or any(
                application.key == handler.key
                for application in applications):
            continue
        if not os.path.isfile(handler.full_path.strip('"')):
            log.warning("%s line %d: the handler %s names %s, which does not"
                        " exist (yet)", web_config.path, handler.line,
                        handler.name, handler.full_path)
        applications.append(FastCgiApplication(
            handler.full_path, handler.arguments,
            source="the handler %s of %s" % (handler.name, web_config.path),
            attributes=dict(DEFAULT_ATTRIBUTES)))
    return applications


def register_applications(web_config: "WebConfig",
                          appcmd: Union[str, Sequence[str], None] = None
                          ) -> int:
    """Register every FastCGI application of ``web_config`` (a
    :class:`~.webconfig.WebConfig`), and the one a wfastcgi-style handler
    names; how many were registered (0 when appcmd is not there)."""
    applications = applications_to_register(web_config)
    if not applications:
        log.warning("%s has no <system.webServer><fastCgi><application> and"
                    " no handler whose scriptProcessor is"
                    " python.exe|%s: no FastCGI application to register",
                    web_config.path, ARGUMENTS)
        return 0
    try:
        command = appcmd_module.Appcmd(appcmd)
    except appcmd_module.AppcmdNotFound as error:
        log.warning("%s; the FastCGI applications of %s are not"
                    " registered. appcmd would have been run as:", error,
                    web_config.path)
        for application in applications:
            for words in planned_commands(application):
                log.warning("  appcmd %s", shlex.join(words))
        return 0
    existing = appcmd_module.list_fastcgi_applications(command)
    for application in applications:
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
    return len(applications)
