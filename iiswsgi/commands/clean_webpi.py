"""``setup.py clean_webpi``: clear what WebPI cached for the dists of
``-m``, so the next try downloads them again: their downloads
(``installers\\<productId>``), WebPI's copy of this project's feed (found
by its ``<id>``), and install stamps left by an install that did not
finish."""

import os
from typing import List, Optional, Set

from distutils.errors import DistutilsExecError
from setuptools import Command

from ..iis import appcmd as appcmd_module
from .. import webpi
from ..msdeploy import STAMP
from . import INFO
from .bdist_webpi import feed_id, load_msdeploy_dists, split_paths

__all__ = ["clean_webpi"]


class clean_webpi(Command):
    description = "clear WebPI's caches of the bdist_webpi MSDeploy dists"
    user_options = [
        ("msdeploy-bdists=", "m",
         "folders of the MSDeploy dists, split as a shell does [default:"
         " bdist_webpi's]"),
        ("webpi-cache=", "c",
         "WebPI's cache folder [default: %LOCALAPPDATA%\\Microsoft\\Web"
         " Platform Installer]"),
        ("appcmd=", None, "appcmd.exe, to find stale install stamps"
                          " [default: $IISWSGI_APPCMD, else where IIS"
                          " keeps it]"),
        ("dry-run", "n", "list what would be removed; remove nothing"),
    ]
    boolean_options = ["dry-run"]

    def initialize_options(self) -> None:
        self.msdeploy_bdists = None
        self.webpi_cache = None
        self.appcmd = None
        self.dry_run = None

    def finalize_options(self) -> None:
        if self.msdeploy_bdists is None:
            self.set_undefined_options(
                "bdist_webpi", ("msdeploy_bdists", "msdeploy_bdists"))
        self.msdeploy_bdists = split_paths(self.msdeploy_bdists,
                                           "--msdeploy-bdists") or [
            os.curdir]
        if self.dry_run is None:
            # setup.py's global --dry-run, gone from setuptools 80 on.
            self.dry_run = getattr(self.distribution, "dry_run", False)
        self.webpi_cache = self.webpi_cache or webpi.default_cache_root()
        self.appcmd = self.appcmd or os.environ.get("IISWSGI_APPCMD")

    def feed_ids(self) -> Set[Optional[str]]:
        ids = {feed_id(self.distribution)}
        built = os.path.join(self.get_finalized_command(
            "bdist_webpi").dist_dir, "%s-%s.webpi.xml" % (
                self.distribution.get_name(),
                self.distribution.get_version()))
        if os.path.isfile(built):
            ids.add(webpi.feed_id_of(built))
        return ids

    def run(self) -> None:
        dists = load_msdeploy_dists(self.distribution, self.msdeploy_bdists)
        verb = "would remove" if self.dry_run else "removed"
        if self.webpi_cache:
            removed = webpi.clean_cache(
                self.webpi_cache,
                [item.distribution.get_name() for item in dists],
                self.feed_ids(), self.dry_run)
            for path in removed:
                self.announce("%s %s" % (verb, path), INFO)
            if not removed:
                self.announce("nothing of these dists is cached in %s"
                              % self.webpi_cache, INFO)
        else:
            self.announce("LOCALAPPDATA is not set, so there is no WebPI"
                          " cache here (give --webpi-cache)", INFO)
        self.clean_stamps([name for item in dists for name in item.app_names])

    def clean_stamps(self, app_names: List[str]) -> None:
        try:
            stamps = webpi.stale_stamps(
                app_names, lambda: appcmd_module.list_sites(self.appcmd),
                STAMP)
        except appcmd_module.AppcmdNotFound as error:
            self.announce("stale install stamps not looked for: %s" % error,
                          INFO)
            return
        except appcmd_module.AppcmdError as error:
            raise DistutilsExecError(
                "listing the IIS sites to find stale install stamps failed:"
                " %s" % error) from None
        if not stamps:
            self.announce("no stale %s in the IIS folders of %s" % (
                STAMP, ", ".join(app_names)), INFO)
        for path in webpi.remove_files(stamps, self.dry_run):
            self.announce("%s the stale install stamp %s" % (
                "would remove" if self.dry_run else "removed", path),
                INFO)
