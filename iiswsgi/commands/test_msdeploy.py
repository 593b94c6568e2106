"""``setup.py test_msdeploy``: one request to the installed application
through its gateway, started as IIS starts it (the web.config handler's
scriptProcessor, or ``iiswsgi serve`` for ``--config``).  A non-2xx answer
fails the command, showing the status, headers and start of the body."""

import os
from typing import Dict, List, Tuple

from distutils.errors import DistutilsExecError, DistutilsFileError
from setuptools import Command

from ..msdeploy import PackageError
from ..msdeploy.probe import (ProbeUnavailable, gateway_command, probe,
                              serve_command)
from ..msdeploy.webconfig import read_web_config
from . import INFO


class test_msdeploy(Command):
    description = "send a request to the installed application through its"\
                  " FastCGI gateway"
    user_options = [
        ("url=", "u", "the URL path to request [default: /]"),
        ("config=", "c", "serve this Paste ini with `iiswsgi serve` instead"
                         " of the web.config handler"),
        ("timeout=", "t", "seconds to wait for the answer [default: 60]"),
    ]

    def initialize_options(self) -> None:
        self.url = None
        self.config = None
        self.timeout = None

    def finalize_options(self) -> None:
        self.url = self.url or "/"
        if not self.url.startswith("/"):
            self.url = "/" + self.url
        self.timeout = float(self.timeout or 60)
        self.app_dir = os.path.abspath(
            os.environ.get("APPL_PHYSICAL_PATH") or os.curdir)
        if self.config:
            self.ensure_filename("config")

    def gateway(self) -> Tuple[List[str], Dict[str, str]]:
        """(argv, environment) to start the gateway with."""
        if self.config:
            return serve_command(self.config), {}
        path = os.path.join(self.app_dir, "web.config")
        try:
            config = read_web_config(path)
        except PackageError as error:
            raise DistutilsFileError(
                "%s (run install_msdeploy first, or give --config)" % error)
        if not config.handlers:
            raise DistutilsFileError(
                "%s has no FastCGI handler (<handlers><add"
                " modules=\"FastCgiModule\" scriptProcessor=...>)" % path)
        handler = config.handlers[0]
        application = config.application_for(handler)
        env = dict(application.environment_variables) if application else {}
        if application is None:
            self.warn("%s: no <fastCgi><application> matches the handler's"
                      " scriptProcessor %s" % (path, handler.script_processor))
        return gateway_command(handler), env

    def run(self) -> None:
        argv, env = self.gateway()
        try:
            response = probe(argv, self.app_dir, self.url, env,
                             self.timeout)
        except ProbeUnavailable as error:
            self.warn("test_msdeploy skipped: %s" % error)
            return
        if not response.ok:
            raise DistutilsExecError(
                "GET %s answered %d %s (gateway: %s):\n%s" % (
                    self.url, response.status, response.reason,
                    " ".join(argv), response.describe()))
        self.announce("GET %s: %d %s" % (self.url, response.status,
                                         response.reason), INFO)
