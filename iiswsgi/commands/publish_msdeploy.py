"""``setup.py publish_msdeploy`` (also ``upload``, where setuptools' own
is the stub that only says it was removed): publish the MSDeploy zips and
WebPI feeds that bdist_msdeploy and bdist_webpi wrote in this run (or
``--files``) to a folder, a UNC share or an HTTP(S) URL; the work is
:mod:`iiswsgi.publish`.

    setup.py bdist_msdeploy bdist_webpi upload -r https://host/c/{filename}
"""

from typing import List

from distutils.errors import DistutilsExecError, DistutilsOptionError
from setuptools import Command

from . import INFO, split_paths

__all__ = ["publish_msdeploy"]

PUBLISHED_COMMANDS = ("bdist_msdeploy", "bdist_webpi")


class publish_msdeploy(Command):
    description = ("publish the MSDeploy zips and WebPI feed to a folder, a"
                   " share or an http(s) URL, and verify them")
    user_options = [
        ("destination=", "r",
         "a folder or UNC share, or an http(s) URL template ({filename} is"
         " the file's name, else it is added to the path); ${VAR} comes"
         " from the environment"),
        ("header=", "H",
         "HTTP header(s) 'Name: value', one a line in setup.cfg; ${VAR}"
         " comes from the environment (e.g. Authorization: Bearer"
         " ${UPLOAD_TOKEN})"),
        ("files=", "f",
         "files to publish, split as a shell does [default: what"
         " bdist_msdeploy and bdist_webpi wrote in this run]"),
        ("attempts=", None, "tries per file [default: 4]"),
        ("retry-delay=", None,
         "seconds before the first retry, doubled each time [default: 2]"),
        ("timeout=", None, "seconds to wait for the server [default: 60]"),
        ("skip-verify", None,
         "do not read each file back to check its size and sha1"),
    ]
    boolean_options = ["skip-verify"]

    def initialize_options(self) -> None:
        self.destination = None
        self.header = None
        self.files = None
        self.attempts = None
        self.retry_delay = None
        self.timeout = None
        self.skip_verify = False

    def _number(self, name, value, default, kind):
        try:
            number = kind(default if value is None else value)
        except (TypeError, ValueError):
            number = -1
        if number < 0:
            raise DistutilsOptionError("%s: --%s must be a number of at least"
                                       " 0, not %r" % (
                                           self.get_command_name(),
                                           name.replace("_", "-"), value))
        return number

    def finalize_options(self) -> None:
        # Settings of [publish_msdeploy] apply under the name upload too.
        if self.get_command_name() != "publish_msdeploy":
            shared = self.distribution.get_option_dict("publish_msdeploy")
            for name, (_, value) in shared.items():
                name = name.replace("-", "_")
                if getattr(self, name, None) in (None, False):
                    setattr(self, name, value)
        self.attempts = max(1, self._number("attempts", self.attempts, 4,
                                            int))
        self.retry_delay = self._number("retry_delay", self.retry_delay, 2,
                                        float)
        self.timeout = self._number("timeout", self.timeout, 60, float)
        if isinstance(self.header, str):
            self.header = self.header.splitlines()
        self.header = [line for line in self.header or () if line.strip()]
        if isinstance(self.files, str):
            self.files = split_paths(self.files, "--files")

    def paths(self) -> List[str]:
        """The files to publish: zips first, so a feed never names one
        that is not there yet."""
        if self.files:
            return list(self.files)
        built, skipped = [], []
        for command, _, filename in self.distribution.dist_files:
            if command in PUBLISHED_COMMANDS:
                if filename not in built:
                    built.append(filename)
            else:
                skipped.append(filename)
        for filename in skipped:
            self.announce("%s is not published here: upload packages for"
                          " PyPI with twine" % filename, INFO)
        return sorted(built, key=lambda name: name.endswith(".webpi.xml"))

    def run(self) -> None:
        # Imported here: every setup.py run defines this command (as
        # upload), few run it, and iiswsgi.publish takes a tenth of a
        # second to import.
        from ..publish import PublishError, parse_destination, publish
        name = self.get_command_name()
        paths = self.paths()
        if not paths:
            raise DistutilsOptionError(
                "%s: nothing to publish: run it after bdist_msdeploy and/or"
                " bdist_webpi in the same command (setup.py bdist_msdeploy"
                " bdist_webpi %s), or give --files" % (name, name))
        try:
            if not self.destination:
                raise PublishError(
                    "no destination: give -r/--destination (a folder, a UNC"
                    " share or an http(s) URL), or set destination in"
                    " setup.cfg [publish_msdeploy]. PyPI accepts neither"
                    " MSDeploy zips nor feeds.")
            destination = parse_destination(
                self.destination, self.header, timeout=self.timeout)
            published = publish(
                paths, destination, self.attempts, self.retry_delay,
                not self.skip_verify,
                progress=lambda line: self.announce(line, INFO))
        except PublishError as error:
            raise DistutilsExecError("%s: %s" % (name, error)) from None
        self.announce("%s: %d file%s published" % (
            name, len(published), "" if len(published) == 1 else "s"),
            INFO)
