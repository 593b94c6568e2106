"""The whole package flow on this system, for each example: bdist_msdeploy
in a copy, the zip unpacked into a site folder as Web Deploy would, a
(fake) IIS whose site points there, iiswsgi_install finding it through
appcmd and the stamp, install_msdeploy registering the FastCGI
application, test_msdeploy answering through the gateway.

Everything runs for real except appcmd (tests/support/fake_appcmd.py over
an applicationHost.config file).  The "system" Python is a throw-away
virtual environment that sees the test environment's packages, so nothing
is installed into the test environment itself.  The sample is installed
without -e, the Pyramid example with -e (a venv in the site folder, seeing
the packages already installed, so nothing is downloaded).
"""

import os
import sys

import pytest

from tests.support.webdeploy import deploy, run

pytestmark = pytest.mark.skipif(os.name == "nt",
                                reason="the gateway probe needs POSIX")


@pytest.mark.parametrize("example, name, args, venv", [
    ("sample.msdeploy", "WSGISampleIISApp", [], False),
    ("pyramid.msdeploy", "PyramidIISApp", ["-e"], True),
])
def test_flow(tmp_path, python, example, name, args, venv):
    app_dir, config, appcmd, env, command, result = deploy(
        tmp_path, python, example, name, args)
    assert result.returncode == 0, result.stdout
    assert not (app_dir / "iis_install.stamp").exists()
    log = (app_dir / "iiswsgi_install.log").read_text()
    assert "GET /: 200" in log
    web_config = (app_dir / "web.config").read_text()
    assert str(app_dir) in web_config
    python_exe = (os.path.join(str(app_dir), ".venv", "bin", "python")
                  if venv else python)
    assert 'fullPath="%s"' % python_exe in web_config
    # The FastCGI application is in the (fake) applicationHost.config.
    from iiswsgi.iis.appcmd import find_fastcgi_application, \
        list_fastcgi_applications
    from iiswsgi.msdeploy.webconfig import read_web_config
    wanted = read_web_config(str(app_dir / "web.config"))
    entries = list_fastcgi_applications(
        [appcmd, "/apphostconfig:" + config])
    (application,) = wanted.fastcgi_applications
    entry = find_fastcgi_application(entries, application.full_path,
                                     application.arguments)
    assert entry is not None, entries
    assert entry["maxInstances"] == application.attributes["maxInstances"]
    assert entry["environmentVariables"] == \
        application.environment_variables
    # Installing again (-i: the stamp is gone) replaces the entry.
    again = run(command[:-len(args) or None] + ["-i", "-d", str(app_dir)]
                + args,
                str(tmp_path), env)
    entries = list_fastcgi_applications(
        [appcmd, "/apphostconfig:" + config])
    assert len(entries) == 1, entries
    if example == "pyramid.msdeploy":
        assert (app_dir / "data").is_dir()     # the project's own hook
        response = run([python_exe, "setup.py", "test_msdeploy", "-u",
                        "/"], str(app_dir), env)
        assert again.returncode == 0


def test_broken_app_fails_with_status(tmp_path, python):
    app_dir, config, appcmd, env, command, result = deploy(
        tmp_path, python, "sample.msdeploy", "WSGISampleIISApp", [])
    assert result.returncode == 0, result.stdout
    (app_dir / "iis_fcgi.ini").write_text(
        "[app:main]\nuse = call:broken_app:factory\n\n"
        "[server:main]\nuse = egg:iiswsgi#iis\n")
    (app_dir / "broken_app.py").write_text(
        "def factory(global_conf, **conf):\n"
        "    def app(environ, start_response):\n"
        "        start_response('503 Service Unavailable',"
        " [('Content-Type', 'text/plain'), ('X-Broken', 'yes')])\n"
        "        return [b'the database is down']\n"
        "    return app\n")
    env = dict(env, PYTHONPATH=str(app_dir), APPL_PHYSICAL_PATH=str(app_dir))
    result = run([python, "setup.py", "test_msdeploy"], str(app_dir), env,
                 check=False)
    assert result.returncode != 0
    assert "503" in result.stdout
    assert "X-Broken: yes" in result.stdout
    assert "the database is down" in result.stdout
