"""``setup.py bdist_msdeploy``: the Web Deploy zip,
``dist/<Name>-<version>-py<X.Y>-<platform>.msdeploy.zip``, with
Manifest.xml and Parameters.xml at the root and the sdist's files (as
MANIFEST.in selects them) under ``<Name>/``."""

import os
import sys
import sysconfig
from typing import List

from distutils.errors import DistutilsFileError
from setuptools import Command, Distribution

from ..msdeploy import PackageError
from ..msdeploy.package import archive_name, write_package
from . import INFO


def package_filename(distribution: Distribution) -> str:
    name = distribution.get_name().replace("-", "_")
    version = distribution.get_version().replace("-", "_")
    return "%s-%s-py%d.%d-%s.msdeploy.zip" % (
        name, version, sys.version_info[0], sys.version_info[1],
        sysconfig.get_platform())


class bdist_msdeploy(Command):
    description = "create an MSDeploy (Web Deploy) zip package"
    user_options = [
        ("dist-dir=", "d", "where to put the package [default: dist]"),
        ("skip-install", None, "do not run install_msdeploy first"),
    ]
    boolean_options = ["skip-install"]

    def initialize_options(self) -> None:
        self.dist_dir = None
        self.skip_install = False

    def finalize_options(self) -> None:
        self.dist_dir = self.dist_dir or "dist"
        install = self.distribution.get_command_obj("install_msdeploy")
        install.skip_fcgi_app_install = True

    def file_list(self) -> List[str]:
        """The sdist's files, relative to the project."""
        self.run_command("egg_info")
        egg_info = self.get_finalized_command("egg_info")
        return sorted(set(os.path.normpath(path)
                          for path in egg_info.filelist.files))

    def run(self) -> None:
        self.run_command("build_msdeploy")
        if not self.skip_install:
            self.run_command("install_msdeploy")
        build = self.get_finalized_command("build_msdeploy")
        name = self.distribution.get_name()
        app_paths = build.manifest_model.iis_app_paths
        if app_paths and name not in app_paths:
            self.warn("Manifest.xml's <iisApp path> is %s, but the package"
                      " folder is %s" % (", ".join(app_paths), name))
        try:
            files = {"Manifest.xml": build.manifest,
                     "Parameters.xml": build.parameters}
            for path in self.file_list():
                files[archive_name(name, path)] = path
            target = os.path.join(self.dist_dir,
                                  package_filename(self.distribution))
            write_package(target, files)
        except PackageError as error:
            raise DistutilsFileError(str(error)) from None
        self.announce("wrote %s" % target, INFO)
        self.distribution.dist_files.append(
            ("bdist_msdeploy", "%d.%d" % sys.version_info[:2], target))
