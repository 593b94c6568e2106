"""``setup.py install_msdeploy``: the set-up an installed package needs,
run in the application directory on the target.

``run()`` calls three hooks a project's subclass may override (register it
with ``cmdclass={"install_msdeploy": ...}``):

* ``pre_install()``: install the distribution into this Python
  (``--install-method``: ``develop``, the default, needs neither network nor
  a wheel builder and keeps the application directory the installed code;
  ``pip`` runs ``pip install --no-build-isolation -e .``; ``none``, the
  default when iiswsgi_install has installed it already from the
  package's wheelhouse: ``IISWSGI_INSTALLED=1``);
* ``install()``: the project's own steps; does nothing here.  Put values
  for web.config.in in ``self.variables``;
* ``post_install()``: write web.config from web.config.in and register its
  ``<fastCgi><application>`` entries with appcmd (unless
  ``--skip-fcgi-app-install``; 0.3's ``-s`` is still taken, with a
  warning).

web.config.in variables: the environment, the distribution's metadata
(``DIST_NAME`` ...), ``APPL_PHYSICAL_PATH`` (default: the current
directory), ``PYTHON_EXE`` (this Python), ``PYTHON_HOME`` (its folder),
``SEP`` (the path separator) and ``self.variables``.  Values are
XML-escaped.
"""

import os
import subprocess
import sys
from typing import Dict, Optional

from distutils.errors import DistutilsExecError, DistutilsFileError
from setuptools import Command

from ..iis.appcmd import AppcmdError
from ..msdeploy import PackageError
from ..msdeploy.register import register_applications
from ..msdeploy.webconfig import WebConfig, write_web_config
from . import INFO, dist_variables

METHODS = ("develop", "pip", "none")


class install_msdeploy(Command):
    description = "set up an installed MSDeploy package for IIS"
    user_options = [
        ("skip-fcgi-app-install", "S",
         "do not register the FastCGI application with appcmd"),
        ("skip-fcgi-app-install-0-3", "s",
         "deprecated: 0.3's spelling of -S"),
        ("install-method=", None,
         "how to install the distribution: develop, pip or none"
         " [default: develop]"),
        ("appcmd=", None, "appcmd.exe to use [default: $IISWSGI_APPCMD, else"
                          " where IIS keeps it]"),
        ("web-config=", None, "web.config to write [default: web.config in"
                              " APPL_PHYSICAL_PATH]"),
    ]
    boolean_options = ["skip-fcgi-app-install", "skip-fcgi-app-install-0-3"]

    def initialize_options(self) -> None:
        self.skip_fcgi_app_install = False
        self.skip_fcgi_app_install_0_3 = False
        self.install_method = None
        self.appcmd = None
        self.web_config = None
        self.variables = {}

    def finalize_options(self) -> None:
        if self.skip_fcgi_app_install_0_3:
            self.warn("-s is deprecated: use -S (--skip-fcgi-app-install)")
            self.skip_fcgi_app_install = True
        self.install_method = self.install_method or (
            "none" if os.environ.get("IISWSGI_INSTALLED") == "1"
            else "develop")
        if self.install_method not in METHODS:
            raise DistutilsExecError(
                "install_msdeploy: --install-method must be one of %s, not"
                " %r" % (", ".join(METHODS), self.install_method))
        self.appcmd = self.appcmd or os.environ.get("IISWSGI_APPCMD")
        self.app_dir = os.path.abspath(
            os.environ.get("APPL_PHYSICAL_PATH") or os.curdir)
        os.environ.setdefault("APPL_PHYSICAL_PATH", self.app_dir)
        self.web_config = self.web_config or os.path.join(self.app_dir,
                                                          "web.config")

    def run(self) -> None:
        self.pre_install()
        self.install()
        self.post_install()

    # -- the hooks -----------------------------------------------------

    def pre_install(self) -> None:
        """Install the distribution into this Python."""
        if self.install_method == "develop":
            self.run_command("develop")
        elif self.install_method == "pip":
            command = [sys.executable, "-m", "pip", "install",
                       "--no-build-isolation", "-e", self.app_dir]
            self.announce("running " + " ".join(command), INFO)
            if subprocess.call(command):
                raise DistutilsExecError("%s failed" % " ".join(command))

    def install(self) -> None:
        """The project's own set-up steps: override in a subclass."""

    def post_install(self) -> None:
        """web.config, then the FastCGI registration."""
        config = self.write_web_config()
        if config is None or self.skip_fcgi_app_install:
            return
        try:
            register_applications(config, self.appcmd)
        except AppcmdError as error:
            raise DistutilsExecError(
                "registering the FastCGI application of %s failed: %s"
                % (config.path, error)) from None

    # -- helpers --------------------------------------------------------

    def template_variables(self) -> Dict[str, str]:
        return dist_variables(
            self.distribution, APPL_PHYSICAL_PATH=self.app_dir,
            PYTHON_EXE=sys.executable,
            PYTHON_HOME=os.path.dirname(sys.executable), SEP=os.sep,
            **self.variables)

    def write_web_config(self) -> Optional[WebConfig]:
        template = os.path.join(self.app_dir, "web.config.in")
        if not os.path.isfile(template):
            self.warn("no %s: web.config left as it is" % template)
            return None
        try:
            return write_web_config(template, self.web_config,
                                    self.template_variables())
        except PackageError as error:
            raise DistutilsFileError(str(error)) from None
