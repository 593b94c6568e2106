"""``setup.py build_msdeploy``: Manifest.xml from Manifest.xml.in, the
install stamp from its template, and a check of Parameters.xml."""

import os

from distutils.errors import DistutilsFileError
from setuptools import Command

from ..files import write_atomically
from ..msdeploy import STAMP, STAMP_TEMPLATE, PackageError
from ..msdeploy.manifest import build_manifest
from ..msdeploy.parameters import read_parameters
from . import INFO, dist_variables


class build_msdeploy(Command):
    description = ("build the MSDeploy Manifest.xml and install stamp from"
                   " their templates and check Parameters.xml")
    user_options = [
        ("manifest=", "m", "the Manifest.xml to write (from MANIFEST.in)"
                           " [default: Manifest.xml]"),
        ("parameters=", "p", "the Parameters.xml to check"
                             " [default: Parameters.xml]"),
    ]

    def initialize_options(self) -> None:
        self.manifest = None
        self.parameters = None

    def finalize_options(self) -> None:
        self.manifest = self.manifest or "Manifest.xml"
        self.parameters = self.parameters or "Parameters.xml"

    def run(self) -> None:
        variables = dist_variables(self.distribution)
        try:
            self.parameters_model = read_parameters(self.parameters)
            self.manifest_model = build_manifest(
                self.manifest + ".in", self.manifest, variables)
        except PackageError as error:
            raise DistutilsFileError(str(error)) from None
        if os.path.isfile(STAMP_TEMPLATE):
            with open(STAMP_TEMPLATE, "rb") as stream:
                write_atomically(STAMP, stream.read())
            self.announce("copied %s to %s" % (STAMP_TEMPLATE, STAMP),
                          INFO)
        else:
            self.warn("no %s: iiswsgi_install finds the installed"
                      " application by its %s" % (STAMP_TEMPLATE, STAMP))
