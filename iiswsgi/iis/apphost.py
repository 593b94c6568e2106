"""applicationHost.config: its sites (``system.applicationHost/sites``)
and the FastCGI applications it registers (``system.webServer/fastCgi``),
read with the same element readers whether the XML comes from the file
itself or from ``appcmd list config ... /xml``."""

from dataclasses import dataclass, field
from typing import (Callable, Iterable, Iterator, List, Mapping, Optional,
                    Tuple)

from .. import safexml
from .expand import expand_variables
from .webconfig import (ConfigError, FastCgiApplication, read_config_file,
                        read_fastcgi_applications)

__all__ = ["AppHost", "Application", "Site", "VirtualDirectory",
           "expanded_paths", "read_apphost", "read_sites"]


@dataclass
class VirtualDirectory:
    path: str
    physical_path: str            # as configured: may hold %VARIABLES%
    expanded_path: str            # with the variables expanded
    attributes: dict = field(default_factory=dict)


@dataclass
class Application:
    site: str
    path: str
    application_pool: str
    virtual_directories: list = field(default_factory=list)
    attributes: dict = field(default_factory=dict)
    line: int = 0
    column: int = 0

    @property
    def name(self) -> str:
        """appcmd's identifier: ``Site/`` for a root, ``Site/app`` else."""
        return self.site + ("/" if self.path == "/" else self.path)

    @property
    def root(self) -> Optional[VirtualDirectory]:
        """The virtual directory at the application's own path, or None."""
        for directory in self.virtual_directories:
            if directory.path == "/":
                return directory
        return None


@dataclass
class Site:
    name: str
    id: str
    applications: list = field(default_factory=list)
    attributes: dict = field(default_factory=dict)
    line: int = 0
    column: int = 0

    @property
    def number(self) -> int:
        """The site's id as a number (0 when it has none); ValueError when
        it is not one."""
        return int(self.id or "0")


def _newest_first(indexed: Tuple[int, Site]) -> Tuple[int, int]:
    index, site = indexed
    try:
        return (site.number, index)
    except ValueError:
        return (-1, index)


def expanded_paths(sites: Iterable[Site], newest_first: bool = False,
                   keep: Optional[Callable[[Application, VirtualDirectory],
                                           bool]] = None) -> Iterator[str]:
    """The expanded physical paths of the virtual directories of
    ``sites``' applications, each once, in the order of the configuration;
    ``newest_first``: the sites by id from the highest (one whose id is not
    a number last) and their applications from the last.  ``keep(
    application, directory)``, when given, picks the directories to look
    at."""
    sites = list(sites)
    if newest_first:
        sites = [site for _, site in sorted(enumerate(sites),
                                            key=_newest_first, reverse=True)]
    seen = set()
    for site in sites:
        applications = site.applications
        if newest_first:
            applications = reversed(applications)
        for application in applications:
            for directory in application.virtual_directories:
                path = directory.expanded_path
                if path in seen or (keep is not None
                                    and not keep(application, directory)):
                    continue
                seen.add(path)
                yield path


def read_sites(section: safexml.Element,
               environ: Optional[Mapping[str, str]] = None) -> List[Site]:
    """The sites of a ``system.applicationHost/sites`` element, each with
    its applications (their pool defaulting to applicationDefaults') and
    their virtual directories; physical paths as configured and with
    ``%VARIABLES%`` expanded from ``environ``."""
    defaults = section.find("applicationDefaults")
    default_pool = "" if defaults is None else defaults.get(
        "applicationPool", "")
    sites = []
    for element in section.findall("site"):
        site = Site(element.get("name", ""), element.get("id", ""),
                    attributes=dict(element.attrib),
                    line=getattr(element, "line", 0),
                    column=getattr(element, "column", 0))
        for app_element in element.findall("application"):
            application = Application(
                site.name, app_element.get("path", "/"),
                app_element.get("applicationPool", default_pool),
                attributes=dict(app_element.attrib),
                line=getattr(app_element, "line", 0),
                column=getattr(app_element, "column", 0))
            for vdir in app_element.findall("virtualDirectory"):
                raw = vdir.get("physicalPath", "")
                application.virtual_directories.append(VirtualDirectory(
                    vdir.get("path", "/"), raw,
                    expand_variables(raw, environ), dict(vdir.attrib)))
            site.applications.append(application)
        sites.append(site)
    return sites


@dataclass
class AppHost:
    path: str
    sites: List[Site]
    fastcgi_applications: List[FastCgiApplication]


def read_apphost(path: str, environ: Optional[Mapping[str, str]] = None
                 ) -> AppHost:
    """The sites and FastCGI applications of the applicationHost.config at
    ``path``; ConfigError (file, line, column) when it cannot be used."""
    config_file = read_config_file(path, "applicationHost.config")
    root = config_file.root
    sites = []
    for section in root.findall("system.applicationHost/sites"):
        sites.extend(read_sites(section, environ))
    for site in sites:
        try:
            site.number
        except ValueError:
            raise ConfigError("site %r has id %r, not a number" % (
                site.name, site.id), path, site.line, site.column) from None
    fastcgi: Tuple = ()
    for section in root.findall("system.webServer/fastCgi"):
        fastcgi = read_fastcgi_applications(section, path, fastcgi)
    return AppHost(path, sites, list(fastcgi))
