"""What the emulator serves: a site's applications, the FastCGI handlers
their web.config files name, and the ``<fastCgi><application>`` settings
for each handler's process, read as IIS reads them."""

import logging
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from ..iis import apphost as apphost_model
from ..iis.paths import split_under
from ..iis.webconfig import (AUTOMATIC_INSTANCES,
                             DEFAULT_RESPONSE_BUFFER_LIMIT, STDERR_MODES,
                             ConfigCache, ConfigError, Configuration,
                             FastCgiApplication, Handler, configuration_for,
                             find_application)

__all__ = ["AUTOMATIC_INSTANCES", "ConfigError", "Application",
           "DEFAULT_RESPONSE_BUFFER_LIMIT", "FastCgiSettings", "HandlerRule",
           "Site", "WebConfigCache", "load_site", "STDERR_MODES"]

log = logging.getLogger("iiswsgi.emulator.config")

# The emulator's names for the model's <fastCgi><application> and
# <handlers><add>.
FastCgiSettings = FastCgiApplication
HandlerRule = Handler


@dataclass
class Application:
    """An IIS application: its virtual path (``/`` or ``/name``) and the
    folder it maps to."""
    path: str
    physical_path: str
    pool: str = "DefaultAppPool"

    def relative(self, url_path: str) -> Optional[str]:
        """``url_path`` under this application, without a leading slash,
        or None when it is not under it."""
        if self.path == "/":
            return url_path.lstrip("/")
        under = split_under(url_path, self.path)
        return None if under is None else under[1].lstrip("/")


@dataclass
class Site:
    name: str
    site_id: int
    applications: list                 # longest path first
    fastcgi: list                      # FastCgiSettings from applicationHost
    apphost: Optional[str] = None

    def application_for(self, url_path: str
                        ) -> Tuple[Optional[Application], Optional[str]]:
        """(the application ``url_path`` is under, the path relative to
        it), or (None, None)."""
        for application in self.applications:
            relative = application.relative(url_path)
            if relative is not None:
                return application, relative
        return None, None

    def parents_of(self, application: Application) -> List[Application]:
        """The applications of the site above ``application``, outermost
        first: the ones whose web.config files it inherits."""
        return sorted((other for other in self.applications
                       if other is not application
                       and len(other.path) < len(application.path)
                       and other.relative(application.path) is not None),
                      key=lambda other: len(other.path))

    def registrations(self, root_config: Optional[Configuration] = None
                      ) -> List[FastCgiSettings]:
        """The FastCGI applications registered, the only ones IIS starts.

        With applicationHost.config, its ``<fastCgi>`` (where IIS reads
        them).  Without one, what ``install_msdeploy`` and ``iiswsgi
        enable`` would have registered from the site's own web.config
        (``root_config``, the configuration of the site's folder): its
        ``<fastCgi><application>`` entries, and IIS's defaults for each
        FastCGI handler it declares itself.  Never what a web.config in a
        sub-folder names: in IIS that runs nothing unregistered."""
        if self.apphost is not None:
            return list(self.fastcgi)
        if root_config is None:
            return []
        registered = list(root_config.fastcgi_applications)
        for handler in root_config.fastcgi_handlers:
            if find_application(registered, handler) is None:
                registered.append(FastCgiSettings(handler.full_path,
                                                  handler.arguments))
        return registered

    def settings_for(self, handler: Handler,
                     root_config: Optional[Configuration] = None
                     ) -> Optional[FastCgiSettings]:
        """The registered FastCgiSettings (:meth:`registrations`) that
        ``handler``'s scriptProcessor names, or None: IIS answers 500."""
        return find_application(self.registrations(root_config), handler)

    @property
    def root(self) -> Application:
        """The site's root application (``/``) or, without one, its
        outermost."""
        return min(self.applications, key=lambda app: len(app.path))


def _native_path(path: str) -> str:
    """An expanded physical path with, off Windows, backslashes as
    slashes."""
    if os.sep == "/":
        path = path.replace("\\", "/")
    return os.path.normpath(path)


def _same_folder(one, other):
    try:
        return os.path.samefile(one, other)
    except OSError:
        return os.path.normcase(os.path.abspath(one)) == \
            os.path.normcase(os.path.abspath(other))


def read_apphost(path: str) -> Tuple[list, List[FastCgiSettings]]:
    """(sites, fastcgi settings) of an applicationHost.config: sites as
    (name, id, [Application])."""
    model = apphost_model.read_apphost(path)
    sites = []
    for site in model.sites:
        applications = []
        for app in site.applications:
            app_path = "/" + app.path.strip("/")
            root = app.root
            if root is None:
                raise ConfigError(
                    'application %s of site %r has no <virtualDirectory'
                    ' path="/">: add one with its physicalPath'
                    % (app_path, site.name), path, app.line, app.column)
            applications.append(Application(
                app_path, _native_path(root.expanded_path),
                app.application_pool or "DefaultAppPool"))
        sites.append((site.name, site.number, applications))
    return sites, model.fastcgi_applications


def load_site(site_dir: str, apphost: Optional[str] = None) -> Site:
    """The Site to serve for ``site_dir``: with an applicationHost.config,
    the site holding an application whose folder is ``site_dir`` (every
    application of that site is served); otherwise ``site_dir`` as the
    root application of site 1."""
    site_dir = os.path.abspath(site_dir)
    if not os.path.isdir(site_dir):
        raise ConfigError("%s is not a folder: give the folder of the site"
                          " (where its web.config is)" % site_dir)
    if apphost is None:
        return Site("Default Web Site", 1, [Application("/", site_dir)], [])
    apphost = os.path.abspath(apphost)
    sites, fastcgi = read_apphost(apphost)
    for name, site_id, applications in sites:
        if any(_same_folder(app.physical_path, site_dir)
               for app in applications):
            applications.sort(key=lambda app: len(app.path), reverse=True)
            return Site(name, site_id, applications, fastcgi, apphost)
    log.warning(
        "%s: no application of its sites has the folder %s (theirs: %s);"
        " serving it as the root of site 1, with the <fastCgi> settings of"
        " that file.  An unset %%VARIABLE%% in a physicalPath is kept as"
        " written, as IIS keeps it.", apphost, site_dir, ", ".join(
            "%s%s -> %s" % (name, app.path, app.physical_path)
            for name, _, applications in sites for app in applications)
        or "none")
    return Site("Default Web Site", 1, [Application("/", site_dir)], fastcgi,
                apphost)


class WebConfigCache:
    """web.config files read as the configuration that applies to a path,
    re-read when they change."""

    def __init__(self) -> None:
        self._files = ConfigCache()

    def configuration(self, application: Application, relative: str,
                      parents: Sequence[Application] = ()) -> Configuration:
        """The effective configuration (handlers in the order IIS tries
        them, the FastCGI applications these web.config files declare,
        requestFiltering, staticContent, appSettings) of ``relative``
        under ``application``.

        ``parents``: the applications above it, outermost first.  As in
        IIS, a child application inherits their web.config files (each
        one's folder and sub-folders on the way to the next application),
        except what a ``<location inheritInChildApplications="false">``
        holds."""
        if not parents:
            return configuration_for(application.physical_path, relative,
                                     self._files)
        url_path = "/" + "/".join(part for part in (
            application.path.strip("/"), relative) if part)
        levels = []
        chain = list(parents) + [application]
        for parent, child in zip(chain, chain[1:]):
            parts = [part for part in
                     (parent.relative(url_path) or "").split("/") if part]
            # Up to the folder where the next application takes over.
            between = len([part for part in
                           parent.relative(child.path).split("/") if part])
            levels += self._files.levels(parent.physical_path, parts,
                                         between - 1)
        inherited = len(levels)
        parts = [part for part in relative.split("/") if part]
        levels += self._files.levels(application.physical_path, parts)
        return self._files.merge(levels, inherited)
