"""The WebPI feed model (:class:`Feed`, :class:`Entry`,
:class:`Installer`) and the entries of distributions: a Web Deploy
application (:func:`application_entry`) and a Python package pip installs
(:func:`package_entry`).

Nothing here knows about distutils: :func:`application_entry` takes a
distribution-like object (``get_name()``, ``get_version()``, ``metadata``,
and the iiswsgi setup() keywords as attributes) and :func:`package_entry`
a core-metadata mapping.
"""

import importlib.metadata
import re
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

from .errors import FeedError
from .values import (file_digest, normalize_date, requirement_name, size_kb,
                     split_keywords, unique)

__all__ = ["ATOM", "DEFAULT_LANGUAGES", "Entry", "Feed", "Installer",
           "WEBPI_FILE_VERSION", "WEB_DEPLOY_PRODUCT", "application_entry",
           "atom_id", "installed_distribution", "package_entry"]

ATOM = "http://www.w3.org/2005/Atom"
# The schema version iiswsgi 0.3 wrote, which WebPI 4 loaded.
WEBPI_FILE_VERSION = "4.0.1.0"
WEB_DEPLOY_PRODUCT = "WDeploy"
DEFAULT_LANGUAGES = (("en", "English"),)

Metadata = importlib.metadata.PackageMetadata


@dataclass
class Installer:
    """One ``<installer>``: a download (``installer_url`` with its size in
    KiB and SHA-1) installed by Web Deploy (``msdeploy``) or by a command
    line (``command`` = (exe, arguments))."""
    language: str = "en"
    installer_url: Optional[str] = None
    file_size: Optional[int] = None
    sha1: Optional[str] = None
    display_url: Optional[str] = None
    eula_url: Optional[str] = None
    help_link: Optional[str] = None
    msdeploy: bool = False
    start_page: str = ""
    command: Optional[Tuple[str, str]] = None
    log_files: List[str] = field(default_factory=list)


@dataclass
class Entry:
    """One ``<entry>``: a product, its dependencies and its installers."""
    product_id: str
    title: str
    id: str
    version: str
    updated: str
    published: str
    summary: str = ""
    long_summary: str = ""
    link: Optional[str] = None
    author_name: Optional[str] = None
    author_uri: Optional[str] = None
    icon: Optional[str] = None
    screenshot: Optional[str] = None
    keywords: List[str] = field(default_factory=list)       # keyword texts
    dependencies: List[str] = field(default_factory=list)   # all of these
    related: List[str] = field(default_factory=list)        # productIds
    discovery_file: Optional[str] = None
    application: bool = False
    product_family: str = "Applications"
    framework_family: str = "Python"
    installers: List[Installer] = field(default_factory=list)


@dataclass
class Feed:
    """The ``<feed>``: its header and entries."""
    id: str
    title: str
    updated: str
    link: Optional[str] = None
    author_name: Optional[str] = None
    author_uri: Optional[str] = None
    entries: List[Entry] = field(default_factory=list)
    languages: Tuple[Tuple[str, str], ...] = DEFAULT_LANGUAGES
    version: str = WEBPI_FILE_VERSION


def _known(value: Optional[str]) -> Optional[str]:
    return None if value in (None, "", "UNKNOWN") else value


def atom_id(url: Optional[str], name: str) -> str:
    """The Atom ``<id>`` of a feed or entry: its project's url, unless
    unknown (``UNKNOWN`` is what distutils reports for none), else the URN
    of its name, stable across versions (clean_webpi finds cached copies
    by it)."""
    return _known(url) or "urn:iiswsgi:webpi:%s" % name


def application_entry(dist: Any, package: str, installer_url: str,
                      python_product: str, updated: str) -> Entry:
    """The ``<entry type="application">`` of ``dist`` (a setuptools
    Distribution) whose Web Deploy zip is ``package``, downloaded from
    ``installer_url``."""
    metadata = dist.metadata
    name = dist.get_name()
    url = _known(metadata.url)
    published = getattr(dist, "published", None)
    size, sha1 = file_digest(package)
    depends = [WEB_DEPLOY_PRODUCT, python_product, "iiswsgi"]
    for keyword in ("webpi_dependencies", "install_msdeploy"):
        depends += [requirement_name(item)
                    for item in getattr(dist, keyword, None) or ()]
    installer = Installer(
        installer_url=installer_url, file_size=size_kb(size), sha1=sha1,
        display_url=getattr(dist, "display_url", None) or url,
        eula_url=getattr(dist, "license_url", None),
        help_link=getattr(dist, "help_url", None) or url, msdeploy=True)
    return Entry(
        product_id=name, title=getattr(dist, "title", None) or name,
        id=atom_id(url, name),
        version=dist.get_version(), updated=updated,
        published=normalize_date(
            published, "setup() keyword published of %s" % name)
        if published else updated,
        summary=_known(metadata.description) or name,
        long_summary=_known(metadata.long_description) or "",
        link=url, author_name=_known(metadata.author),
        author_uri=getattr(dist, "author_url", None),
        icon=getattr(dist, "icon_url", None),
        screenshot=getattr(dist, "screenshot_url", None),
        keywords=split_keywords(metadata.keywords),
        dependencies=[product for product in unique(depends)
                      if product.lower() != name.lower()],
        related=unique(requirement_name(item) for item in
                       getattr(dist, "install_webpi", None) or ()),
        discovery_file=getattr(dist, "discovery_file", None),
        application=True, installers=[installer])


def installed_distribution(requirement: str) -> Metadata:
    """The installed distribution a requirement names, as a metadata
    mapping (``Name``, ``Version``, ``Summary``, ...); FeedError when it
    is not installed."""
    name = requirement_name(requirement)
    try:
        return importlib.metadata.metadata(name)
    except importlib.metadata.PackageNotFoundError:
        raise FeedError(
            "%s (from extras_require['webpi_eggs']) is not installed in"
            " this Python, so its version and description are unknown:"
            " pip install %s" % (name, requirement)) from None


def package_entry(metadata: Metadata, python_product: str, python_home: str,
                  updated: str) -> Entry:
    """The entry of a Python package WebPI installs with pip into the
    Python at ``python_home`` (a Windows path such as
    ``%SystemDrive%\\Python311``); ``metadata`` is a core-metadata mapping
    (:func:`installed_distribution`)."""
    name = metadata["Name"]
    version = metadata["Version"]
    home = _known(metadata.get("Home-page"))
    for project_url in metadata.get_all("Project-URL") or ():
        label, _, value = project_url.partition(",")
        if home is None and label.strip().lower() in ("homepage", "home"):
            home = value.strip()
    folder = "%s-%s.dist-info" % (re.sub(r"[-_.]+", "_", name), version)
    log_file = "%TEMP%\\" + name + ".log"
    installer = Installer(
        command=(python_home + "\\python.exe",
                 '-m pip install --log "%s" "%s==%s"'
                 % (log_file, name, version)),
        log_files=[log_file], help_link=home)
    author = _known(metadata.get("Author")) or _known(
        metadata.get("Author-email"))
    return Entry(
        product_id=name, title=name, id=atom_id(home, name),
        version=version, updated=updated, published=updated,
        summary=_known(metadata.get("Summary")) or name,
        link=home, author_name=author,
        keywords=split_keywords(metadata.get("Keywords")),
        dependencies=[python_product],
        discovery_file="%s\\Lib\\site-packages\\%s\\METADATA"
                       % (python_home, folder),
        product_family="Python", installers=[installer])
