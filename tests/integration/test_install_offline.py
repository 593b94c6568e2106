"""iiswsgi_install with no index reachable: a real wheelhouse (``pip wheel``
of a tiny pyproject-only Flask project, its dependencies and iiswsgi
itself), a site folder holding the package as Web Deploy leaves it (the
project, web.config.in, the stamp with a build token, wheelhouse/), a
(fake) IIS listing that site and a hostile one beside it, then
``iiswsgi_install --build-token ... -e`` with pip's index pointed at a
closed port.  The installed environment's ``python -m iiswsgi`` then
answers a request started as IIS starts it (over a socketpair, by
iiswsgi.msdeploy.probe)."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import require
from tests.support.apphost import write_apphost_config, write_fake_appcmd

pytestmark = pytest.mark.skipif(os.name == "nt",
                                reason="the gateway probe needs POSIX")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TOKEN = "3c" * 32

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "hello-app"
version = "1.0"
dependencies = ["Flask>=2"]

[tool.hatch.build.targets.wheel]
packages = ["hello_app"]
"""

APP = """\
from flask import Flask, request

app = Flask(__name__)


@app.route("/")
def index():
    return "hello from flask at %s" % request.script_root
"""

# wfastcgi style: the handler names the environment's python.
WEB_CONFIG_IN = """\
<?xml version="1.0" encoding="UTF-8"?>
<configuration>
  <system.webServer>
    <handlers>
      <add name="Python FastCGI" path="*" verb="*" modules="FastCgiModule"
           scriptProcessor="${PYTHON_EXE}|-m iiswsgi"
           resourceType="Unspecified" requireAccess="Script" />
    </handlers>
  </system.webServer>
  <appSettings>
    <add key="WSGI_HANDLER" value="hello_app.app" />
  </appSettings>
</configuration>
"""

FLAT_SETUP = """\
from setuptools import setup
setup(name="flatapp", version="1.0", install_requires=["Flask>=2"])
"""


def pip(*args, cwd=None):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        + list(args), cwd=cwd, capture_output=True, text=True, timeout=900)
    require(result.returncode == 0, "pip %s (an index to build the"
            " wheelhouse from): %s" % (" ".join(args), result.stderr[-2000:]))


def offline_env(tmp_path):
    """This environment, with pip unable to reach any index."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PIP_") and key != "APPL_PHYSICAL_PATH"}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1",
               PIP_INDEX_URL="http://127.0.0.1:9/simple/",
               http_proxy="http://127.0.0.1:9", https_proxy=
               "http://127.0.0.1:9", PYTHONDONTWRITEBYTECODE="1")
    return env


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The two projects, and one wheelhouse for both (built with an
    index)."""
    base = tmp_path_factory.mktemp("offline")
    flask_project = base / "hello"
    (flask_project / "hello_app").mkdir(parents=True)
    (flask_project / "pyproject.toml").write_text(PYPROJECT)
    (flask_project / "hello_app" / "__init__.py").write_text(APP)
    flat = base / "flatapp"
    flat.mkdir()
    (flat / "setup.py").write_text(FLAT_SETUP)
    (flat / "flatapp.py").write_text(APP.replace("flask at", "flat at"))
    wheelhouse = base / "wheelhouse"
    pip("wheel", "-w", str(wheelhouse), str(flask_project), str(flat),
        "setuptools")
    pip("wheel", "--no-deps", "-w", str(wheelhouse), ROOT)
    pip("download", "-d", str(wheelhouse), "--only-binary", ":all:",
        "flup>=1.0.3", "PasteDeploy>=3.0", "waitress>=2.1",
        "defusedxml>=0.7", "packaging>=22",
        "tomli>=1.1; python_version < '3.11'")
    return flask_project, flat, wheelhouse


def site(tmp_path, project, wheelhouse, name="App"):
    """The package as Web Deploy leaves it in a site, the hostile site
    beside it, and the fake appcmd listing both."""
    sites = tmp_path / "sites"
    folder = sites / name
    shutil.copytree(project, folder)
    shutil.copytree(wheelhouse, folder / "wheelhouse")
    (folder / "web.config.in").write_text(WEB_CONFIG_IN.replace(
        "hello_app.app", "hello_app.app" if name == "App"
        else "flatapp.app"))
    (folder / "iis_install.stamp").write_text(
        "# IIS app post-install deployment has not yet run\n"
        "iiswsgi-build-token: %s\n" % TOKEN)
    hostile = sites / "Hostile"
    hostile.mkdir(parents=True)
    (hostile / "iis_install.stamp").write_text("# not yet run\n")
    future = time.time() + 86400
    os.utime(hostile / "iis_install.stamp", (future, future))
    marker = tmp_path / "HOSTILE-CODE-RAN"
    (hostile / "setup.py").write_text("open(%r, 'w').write('x')\n"
                                      % str(marker))
    config = write_apphost_config(tmp_path / "applicationHost.config",
                                  sites=(("Default Web Site", 1, [
                                      ("/", "DefaultAppPool", str(hostile)),
                                      ("/" + name, "DefaultAppPool",
                                       str(folder))]),))
    appcmd = write_fake_appcmd(tmp_path / "bin")
    return folder, marker, config, appcmd


def install(tmp_path, appcmd, config, *args):
    env = offline_env(tmp_path)
    env.update(IISWSGI_FAKE_APPHOST=config,
               IISWSGI_FAKE_APPCMD_RECORD=str(tmp_path / "appcmd.jsonl"))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "iiswsgi.msdeploy.install", "-v",
         "--appcmd", appcmd, "--build-token", TOKEN] + list(args),
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=900)
    return result, time.monotonic() - started


def check_request(folder, python, expected):
    from iiswsgi.msdeploy.probe import probe
    from iiswsgi.msdeploy.webconfig import read_web_config
    config = read_web_config(str(folder / "web.config"))
    (handler,) = config.handlers
    assert handler.full_path == python
    response = probe(handler.argv, str(folder), "/",
                     env={"PYTHONPATH": ""}, timeout=60)
    assert response.status == 200, response.describe()
    assert response.body.decode() == expected


def test_offline_install_of_a_pyproject_flask_app(tmp_path, sources):
    flask_project, _, wheelhouse = sources
    folder, marker, config, appcmd = site(tmp_path, flask_project,
                                          wheelhouse)
    result, elapsed = install(tmp_path, appcmd, config, "-e")
    print("offline install (Linux): %.1f s" % elapsed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists()
    assert not (folder / "iis_install.stamp").exists()
    python = str(folder / ".venv" / "bin" / "python")
    assert os.path.isfile(python)
    for name in ("lib", "include", "bin", "lib64", "Scripts"):
        assert not (folder / name).exists(), name
    log = (folder / "iiswsgi_install.log").read_text()
    assert "offline" in log and str(folder / "wheelhouse") in log
    assert "installing iiswsgi from" in log or "iiswsgi is importable" in log
    assert not [line for line in log.splitlines()
                if "deprecat" in line.lower()], log
    # iiswsgi came from the wheelhouse: the environment does not see this
    # one's packages.
    where = subprocess.run(
        [python, "-I", "-c",
         "import iiswsgi, flask; print(iiswsgi.__file__)"],
        cwd=str(tmp_path), capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(folder / ".venv")), where.stdout
    # The FastCGI application the handler names is registered.
    calls = [json.loads(line) for line in
             (tmp_path / "appcmd.jsonl").read_text().splitlines()]
    assert [call for call in calls if call[:1] == ["set"]] == [[
        "set", "config", "/section:system.webServer/fastCgi",
        "/+[fullPath='%s',arguments='-m iiswsgi',"
        "signalBeforeTerminateSeconds='30']" % python, "/commit:apphost"]]
    check_request(folder, python, "hello from flask at ")


def test_offline_install_of_a_flat_layout_setup_py_project(tmp_path,
                                                           sources):
    """The venv in .venv does not confuse setuptools' flat-layout
    discovery when install_msdeploy runs the project's setup.py."""
    _, flat, wheelhouse = sources
    folder, marker, config, appcmd = site(tmp_path, flat, wheelhouse,
                                          name="Flat")
    result, elapsed = install(tmp_path, appcmd, config, "-e", "-a",
                              "flatapp", "install_msdeploy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists()
    for name in ("lib", "include", "bin", "lib64"):
        assert not (folder / name).exists(), name
    log = (folder / "iiswsgi_install.log").read_text()
    assert "flatapp (flatapp-1.0-py3-none-any.whl)" in log, log
    assert not [line for line in log.splitlines()
                if "deprecat" in line.lower()], log
    python = str(folder / ".venv" / "bin" / "python")
    # install_msdeploy registered what the wfastcgi-style handler names.
    apphost = open(config, encoding="utf-8").read()
    assert 'fullPath="%s"' % python in apphost, apphost
    assert 'arguments="-m iiswsgi"' in apphost
    check_request(folder, python, "hello from flat at ")


def test_a_failed_offline_install_runs_again_once_fixed(tmp_path, sources):
    flask_project, _, wheelhouse = sources
    folder, marker, config, appcmd = site(tmp_path, flask_project,
                                          wheelhouse)
    moved = tmp_path / "held-back"
    moved.mkdir()
    for wheel in (folder / "wheelhouse").glob("flask-*.whl"):
        wheel.rename(moved / wheel.name)
    result, _ = install(tmp_path, appcmd, config, "-e")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "installing hello-app" in output and "failed" in output
    assert (folder / "iis_install.stamp").exists()
    for wheel in moved.iterdir():
        wheel.rename(folder / "wheelhouse" / wheel.name)
    result, _ = install(tmp_path, appcmd, config, "-e")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (folder / "iis_install.stamp").exists()
