"""``setup.py bdist_webpi``: ``dist/<name>-<version>.webpi.xml``, a Web
Platform Installer feed with an entry for each MSDeploy dist named by
``-m`` (its zip built beforehand by ``bdist_msdeploy``) and for each
distribution of the ``webpi_eggs`` extra.  The feed model, writer and
validator are :mod:`iiswsgi.webpi`."""

import os
import sys
from typing import List, Sequence

from distutils.core import run_setup
from distutils.errors import DistutilsFileError, DistutilsOptionError
from setuptools import Command, Distribution

from .. import webpi
from ..msdeploy import PackageError
from ..msdeploy.manifest import read_manifest
from . import INFO, split_paths
from .bdist_msdeploy import package_filename
from .build_hook import TEMPLATE, is_msdeploy_dist

__all__ = ["bdist_webpi", "feed_id", "load_msdeploy_dists", "split_paths"]

DEFAULT_URL_TEMPLATE = "{msdeploy_package_url}"


def feed_id(distribution: Distribution) -> str:
    """The feed's Atom ``<id>``: the distribution's url, else a URN of its
    name (stable across versions, so clean_webpi finds cached copies)."""
    return webpi.atom_id(distribution.metadata.url, distribution.get_name())


class MSDeployDist:
    """A dist of ``-m``: its folder, Distribution and Web Deploy zip."""

    def __init__(self, path: str, distribution: Distribution,
                 package: str) -> None:
        self.path = path
        self.distribution = distribution
        self.package = package

    @property
    def app_names(self) -> List[str]:
        """The ``<iisApp path>`` of its built Manifest.xml, else its
        name."""
        manifest = os.path.join(self.path, "Manifest.xml")
        try:
            with open(manifest, encoding="utf-8") as stream:
                names = read_manifest(stream.read(), manifest).iis_app_paths
        except (OSError, UnicodeDecodeError, PackageError):
            names = []
        return names or [self.distribution.get_name()]


def _load(path: str) -> Distribution:
    setup_py = os.path.join(path, "setup.py")
    if not os.path.isfile(setup_py):
        raise DistutilsFileError(
            "%s has no setup.py: --msdeploy-bdists (-m) names the folders of"
            " MSDeploy dists" % path)
    cwd, sys_path = os.getcwd(), list(sys.path)
    os.chdir(path)
    sys.path.insert(0, os.path.abspath(os.curdir))
    try:
        return run_setup("setup.py", [], stop_after="init")
    except SystemExit as error:
        raise DistutilsFileError("%s failed: %s" % (setup_py, error)) \
            from None
    except Exception as error:
        raise DistutilsFileError("loading %s failed: %s: %s" % (
            setup_py, type(error).__name__, error)) from None
    finally:
        os.chdir(cwd)
        sys.path[:] = sys_path


def load_msdeploy_dists(current: Distribution,
                        paths: Sequence[str]) -> List[MSDeployDist]:
    """An :class:`MSDeployDist` for each folder of ``paths``; the current
    distribution is used as it is for ``.``."""
    dists = []
    for path in paths:
        if os.path.abspath(path) == os.path.abspath(os.curdir):
            distribution = current
        else:
            distribution = _load(path)
        if not is_msdeploy_dist(distribution, path):
            raise DistutilsFileError(
                "%s (%s) is not an MSDeploy dist: it has no %s" % (
                    path, distribution.get_name(), TEMPLATE))
        built = [filename for command, _, filename in
                 getattr(distribution, "dist_files", ())
                 if command == "bdist_msdeploy"]
        package = os.path.join(path, built[-1]) if built else os.path.join(
            path, "dist", package_filename(distribution))
        dists.append(MSDeployDist(path, distribution, package))
    return dists


class bdist_webpi(Command):
    description = "build a Web Platform Installer feed of MSDeploy packages"
    user_options = [
        ("msdeploy-bdists=", "m",
         "folders of the dists whose MSDeploy zips go in the feed, split as"
         " a shell does [default: . in an MSDeploy project]"),
        ("msdeploy-url-template=", "u",
         "download URL of each zip, with {name} {version} {msdeploy_file}"
         " {letter} {py_version_short} {msdeploy_package_url} (a file:// URL"
         " of the local zip, for testing) [default: the"
         " msdeploy_url_template setup() keyword, else"
         " {msdeploy_package_url}]"),
        ("template=", "t",
         "a feed to build on: its title, link, author, id and languages"
         " win; its tabs, osList, named dependencies and other entries are"
         " kept"),
        ("dist-dir=", "d", "where to write the feed [default: dist]"),
        ("python-product=", "p",
         "productId of the Python the applications need [default:"
         " Python<X><Y> of this Python]"),
        ("python-home=", None,
         "that Python's folder on the target, for the pip entries"
         " [default: %SystemDrive%\\Python<X><Y>]"),
    ]

    def initialize_options(self) -> None:
        self.msdeploy_bdists = None
        self.msdeploy_url_template = None
        self.template = None
        self.dist_dir = None
        self.python_product = None
        self.python_home = None

    def finalize_options(self) -> None:
        self.msdeploy_bdists = split_paths(self.msdeploy_bdists,
                                           "--msdeploy-bdists")
        if not self.msdeploy_url_template:
            self.msdeploy_url_template = getattr(
                self.distribution, "msdeploy_url_template", None)
        self.dist_dir = self.dist_dir or "dist"
        short = "%d%d" % sys.version_info[:2]
        self.python_product = self.python_product or "Python" + short
        self.python_home = self.python_home or (
            "%SystemDrive%\\Python" + short)
        if self.template:
            self.ensure_filename("template")

    def url(self, distribution: Distribution, package: str) -> str:
        filename = os.path.basename(package)
        values = {
            "name": distribution.get_name(),
            "version": distribution.get_version(),
            "msdeploy_file": filename, "letter": filename[:1],
            "py_version_short": "%d.%d" % sys.version_info[:2],
            "msdeploy_package_url": webpi.file_url(package)}
        return webpi.expand_url(
            self.msdeploy_url_template or DEFAULT_URL_TEMPLATE, values,
            "the msdeploy URL template")

    def run(self) -> None:
        paths = self.msdeploy_bdists
        if not paths:
            if not is_msdeploy_dist(self.distribution):
                raise DistutilsOptionError(
                    "bdist_webpi: no --msdeploy-bdists (-m): name the"
                    " folders of the MSDeploy dists for the feed, e.g. -m"
                    " \"examples/sample.msdeploy examples/pyramid.msdeploy\","
                    " or set msdeploy_bdists in setup.cfg [bdist_webpi]")
            paths = [os.curdir]
        if not self.msdeploy_url_template:
            self.warn("no msdeploy_url_template setup() keyword or -u: the"
                      " feed points at the local zips (file:// URLs), for"
                      " testing on this machine only")
        dist = self.distribution
        name = dist.get_name()
        target = os.path.join(self.dist_dir, "%s-%s.webpi.xml" % (
            name, dist.get_version()))
        try:
            updated = webpi.build_time()
            entries = []
            dists = load_msdeploy_dists(dist, paths)
            for item in dists:
                if not os.path.isfile(item.package):
                    raise DistutilsFileError(
                        "%s: no %s: build it first (setup.py bdist_msdeploy"
                        " in %s, or bdist_msdeploy before bdist_webpi in one"
                        " command)" % (item.distribution.get_name(),
                                       item.package, item.path))
                entries.append(webpi.application_entry(
                    item.distribution, item.package,
                    self.url(item.distribution, item.package),
                    self.python_product, updated))
            for requirement in (dist.extras_require or {}).get(
                    "webpi_eggs", ()):
                entries.append(webpi.package_entry(
                    webpi.installed_distribution(requirement),
                    self.python_product, self.python_home, updated))
            feed = webpi.Feed(
                id=feed_id(dist),
                title=getattr(dist, "title", None) or name,
                updated=updated, link=self.url(dist, target),
                author_name=dist.metadata.author or None,
                author_uri=getattr(dist, "author_url", None),
                entries=entries)
            webpi.write_feed(target, feed, self.template)
        except webpi.FeedError as error:
            raise DistutilsFileError(str(error)) from None
        self.announce("wrote %s (%d entries); to try it, add this feed in"
                      " WebPI (Options, Custom Feeds): %s" % (
                          target, len(entries), webpi.file_url(target)),
                      INFO)
        files = dist.dist_files
        for item in dists:
            if not any(os.path.abspath(filename) == os.path.abspath(
                    item.package) for _, _, filename in files):
                files.append(("bdist_msdeploy", "%d.%d" % sys.version_info[:2],
                              item.package))
        files.append(("bdist_webpi", "", target))
