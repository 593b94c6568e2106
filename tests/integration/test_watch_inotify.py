"""Restart on change in a real gateway process started as IIS starts it,
on Linux through inotify: the log says so, and a module changed deep in
the site (next to a virtual environment of many files) ends the process
after the request, with no scan."""

import os
import sys

import pytest

from tests.support.iis import Gateway, iis_params, wait_for
from tests.support.wfastcgi import write_web_config

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="inotify is Linux's")


def test_a_change_deep_in_the_site_restarts_without_scanning(tmp_path):
    site = tmp_path / "site"
    (site / "pkg" / "sub").mkdir(parents=True)
    write_web_config(site, WSGI_HANDLER="sample_apps.router")
    (site / "pkg" / "sub" / "module.py").write_text("x = 1\n")
    packages = site / "venv" / "lib" / "site-packages" / "dep"
    packages.mkdir(parents=True)
    (site / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    for n in range(500):
        (packages / ("m%03d.py" % n)).write_text("")
    log = tmp_path / "iiswsgi.log"
    gw = Gateway(["-m", "iiswsgi"], env={}, cwd=str(tmp_path), log=log)
    try:
        params = iis_params("/", physical_path=str(site) + os.sep)
        assert gw.client.request(params).status == 200
        wait_for(lambda: "by change notifications" in gw.log_text(), 20)
        (packages / "m000.py").write_text("changed by pip\n")
        assert gw.client.request(params, rid=2).status == 200
        (site / "pkg" / "sub" / "module.py").write_text("x = 2\n")
        assert gw.wait(20) == 0
        assert os.path.join("pkg", "sub", "module.py") + " changed" in \
            gw.log_text()
        assert "m000.py" not in gw.log_text()
        # Notifications did it: they never failed over to a scan.
        assert "scanning" not in gw.log_text()
    finally:
        gw.stop()
