"""``setup.py bdist_msdeploy``: the Web Deploy zip,
``dist/<Name>-<version>-py<X.Y>-<platform>.msdeploy.zip`` for the target
Python and platform (``--python``, ``--platform``; default: this Python's
X.Y, win_amd64), with Manifest.xml and Parameters.xml at the root and,
under ``<Name>/``, the sdist's files (as MANIFEST.in selects them), the
install stamp and the wheelhouse.  The build is
:func:`iiswsgi.msdeploy.build.build_package`, the one ``iiswsgi package``
runs; nothing is installed and nothing in the project is written."""

import os
import sys
from typing import Dict, Optional

from distutils.errors import DistutilsFileError, DistutilsOptionError
from setuptools import Command, Distribution

from ..msdeploy import STAMP, STAMP_TEMPLATE, PackageError
from ..msdeploy.build import PackageSpec, build_package
from ..msdeploy.project import keyword_settings, read_tool_settings
from ..msdeploy.wheelhouse import DEFAULT_PLATFORM, Target, requirements_file
from ..msdeploy.build import package_filename as _filename
from . import INFO, dist_variables


def package_filename(distribution: Distribution,
                     target: Optional[Target] = None) -> str:
    """The zip's file name for ``target`` (default: this Python's X.Y,
    win_amd64)."""
    return _filename(distribution.get_name(), distribution.get_version(),
                     target or Target())


class bdist_msdeploy(Command):
    description = "create an MSDeploy (Web Deploy) zip package"
    user_options = [
        ("dist-dir=", "d", "where to put the package [default: dist]"),
        ("python=", None, "the target Python, X.Y [default: this one's]"),
        ("platform=", None, "the target's wheel platform tag"
                            " [default: %s]" % DEFAULT_PLATFORM),
        ("skip-install", None, "accepted for old command lines: nothing is"
                               " installed any more"),
        ("no-wheelhouse", None, "leave the wheelhouse out"),
    ]
    boolean_options = ["skip-install", "no-wheelhouse"]

    def initialize_options(self) -> None:
        self.dist_dir = None
        self.python = None
        self.platform = None
        self.skip_install = False
        self.no_wheelhouse = False

    def finalize_options(self) -> None:
        self.dist_dir = self.dist_dir or "dist"
        try:
            self.target = Target(self.python or "%d.%d" % sys.version_info[:2],
                                 self.platform or DEFAULT_PLATFORM)
        except PackageError as error:
            raise DistutilsOptionError("bdist_msdeploy: %s" % error) \
                from None

    def file_list(self) -> Dict[str, str]:
        """The sdist's files: path in the package -> path here."""
        self.run_command("egg_info")
        egg_info = self.get_finalized_command("egg_info")
        return {os.path.normpath(path).replace(os.sep, "/"): path
                for path in sorted(set(egg_info.filelist.files))}

    def run(self) -> None:
        root = os.path.abspath(os.curdir)
        dist = self.distribution
        try:
            settings = read_tool_settings(root)
            settings.update(keyword_settings(dist))
            spec = PackageSpec(
                project_dir=root, name=dist.get_name(),
                version=dist.get_version(), target=self.target,
                dist_dir=os.path.abspath(self.dist_dir),
                variables=dist_variables(dist), content=self.file_list(),
                settings=settings, manifest_template="Manifest.xml.in",
                parameters="Parameters.xml",
                web_config_template="web.config.in",
                stamp_template=STAMP_TEMPLATE if os.path.isfile(
                    STAMP_TEMPLATE) else None,
                requirements=requirements_file(root),
                wheelhouse=not self.no_wheelhouse)
            result = build_package(spec)
        except PackageError as error:
            raise DistutilsFileError(str(error)) from None
        self.announce("wrote %s" % result.path, INFO)
        dist.dist_files.append(("bdist_msdeploy", self.target.python,
                                result.path))


__all__ = ["bdist_msdeploy", "package_filename", "STAMP"]
