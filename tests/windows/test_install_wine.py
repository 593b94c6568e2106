"""iiswsgi_install on Windows CPython under Wine, offline: the embeddable
CPython 3.13 (no venv, no ensurepip) as the server's Python, with pip and
iiswsgi on its ``._pth``; a wheelhouse of win_amd64 wheels (``pip download
--platform win_amd64 --python-version 3.13 --only-binary=:all:``, MarkupSafe
included) for a tiny pyproject-only Flask app; ``iiswsgi_install -e`` with
no index reachable, finding the folder by its build token through the fake
appcmd (run by a ``.cmd`` wrapper); then the installed copy's ``python.exe
-m iiswsgi`` serving a request over a real named pipe, started as IIS does
by tests/windows/iis_standin.py's Gateway.

The embeddable interpreter cannot make a virtual environment, so -e gives
the site a private copy of it in ``.venv`` whose own ``python313._pth``
lists ``Lib\\site-packages``, and pip installs there with ``--target``.
"""

import json
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import require
from tests.windows import winpython
from tests.support.flask_project import flask_package  # noqa: F401

TOKEN = "9e" * 32
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
import sys
from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    import markupsafe
    return "hello from flask on %s, markupsafe from %s" % (
        sys.platform, markupsafe.__file__)
"""
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
# Run by the server's Python: the IIS stand-in's Gateway starting the
# site's interpreter (not itself) on a real named pipe.
DRIVER = """\
import json, sys
python, folder, work = sys.argv[1:4]
from tests.windows import iis_standin
from tests.support.iis import iis_params
sys.executable = python          # what Gateway starts
gateway = iis_standin.Gateway(work, ["-m", "iiswsgi"], {}, cwd=folder)
try:
    response = gateway.request("/", physical_path=folder + "\\\\")
    print(json.dumps({"status": response.status,
                      "body": response.body.decode("utf-8", "replace"),
                      "log": gateway.log_text()[-3000:]}))
finally:
    gateway.kill()
"""
PLATFORM = ["--platform", "win_amd64", "--python-version", "3.13",
            "--implementation", "cp", "--only-binary=:all:"]


def pip(*args):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        + list(args), capture_output=True, text=True, timeout=900)
    require(result.returncode == 0, "pip %s: %s" % (
        " ".join(args), result.stderr[-2000:]))


def windows_pip():
    """pip itself, for the server's Python (cached)."""
    target = winpython.cache_dir() / "win-pip"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        pip("install", "--target", str(target), *PLATFORM, "pip")
        (target / ".complete").write_text("ok")
    return target


def offline_env(wine, apphost):
    """Wine's environment with pip unable to reach any index, and the fake
    appcmd reading ``apphost`` (a Windows path)."""
    env = {key: value for key, value in wine.env.items()
           if not key.startswith("PIP_")}
    env.update(PIP_NO_INDEX="1", PIP_INDEX_URL="http://127.0.0.1:9/simple/",
               PIP_CONFIG_FILE="NUL", IISWSGI_FAKE_APPHOST=apphost,
               http_proxy="http://127.0.0.1:9",
               https_proxy="http://127.0.0.1:9")
    return env


def served(wine, venv, folder, work):
    """The answer (status, body, log) to GET / from the site in ``folder``
    run by ``venv``'s python.exe over a real named pipe."""
    win = winpython.windows_path
    result = wine.python_run(["-c", DRIVER, win(venv / "python.exe"),
                              win(folder), win(work)], timeout=300)
    lines = [line for line in result.stdout.decode(
        "utf-8", "replace").splitlines() if line.startswith("{")]
    assert lines, result.stderr.decode("utf-8", "replace")[-4000:]
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("wine-install")
    try:
        embedded = winpython.embedded_python()
        deps = winpython.dependencies()
        pip_dir = windows_pip()
        meta = winpython.install_iiswsgi(work / "iiswsgi-meta")
    except winpython.Unavailable as error:
        require(False, "the Windows tests cannot run: %s" % error)
    # The server's own Python: a copy, so the shared cache's ._pth is left
    # to the other tests.
    python_dir = work / "Python313"
    shutil.copytree(embedded, python_dir)
    # Wine 8 lacks propsys's VariantToString, which the WMI queries of
    # Python 3.13's platform module (pip asks it for its user agent) call:
    # without _wmi.pyd, platform falls back to what Wine does have.
    (python_dir / "_wmi.pyd").unlink()
    winpython.write_path_file(python_dir, [winpython.ROOT, deps, pip_dir,
                                           meta])
    project = work / "hello"
    (project / "hello_app").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "hello_app" / "__init__.py").write_text(APP)
    wheelhouse = work / "wheelhouse"
    pip("download", "-d", str(wheelhouse), *PLATFORM, "Flask", "colorama",
        "setuptools",
        "flup>=1.0.3", "PasteDeploy>=3.0", "waitress>=2.1",
        "defusedxml>=0.7", "packaging>=22",
        "tomli>=1.1; python_version < '3.11'")
    pip("wheel", "--no-deps", "-w", str(wheelhouse), str(project),
        str(winpython.ROOT))
    assert list(wheelhouse.glob("markupsafe-*-cp313-cp313-win_amd64.whl"))
    try:
        wine = winpython.Wine(work / "wineprefix", python_dir)
    except winpython.Unavailable as error:
        require(False, "the Windows tests cannot run: %s" % error)
    yield work, python_dir, project, wheelhouse, wine
    wine.close()


def test_offline_install_and_a_request_over_a_named_pipe(server):
    work, python_dir, project, wheelhouse, wine = server
    win = winpython.windows_path
    sites = work / "sites"
    folder = sites / "App"
    shutil.copytree(project, folder)
    shutil.copytree(wheelhouse, folder / "wheelhouse")
    (folder / "web.config.in").write_text(WEB_CONFIG_IN)
    (folder / "iis_install.stamp").write_text(
        "# not yet installed\niiswsgi-build-token: %s\n" % TOKEN)
    hostile = sites / "Hostile"
    hostile.mkdir()
    (hostile / "iis_install.stamp").write_text("# planted\n")
    marker = work / "HOSTILE-CODE-RAN"
    (hostile / "setup.py").write_text("open(%r, 'w')\n" % win(marker))
    from tests.support.apphost import FAKE_APPCMD, write_apphost_config
    config = write_apphost_config(work / "applicationHost.config", sites=(
        ("Default Web Site", 1, [("/", "DefaultAppPool", win(hostile)),
                                 ("/App", "DefaultAppPool", win(folder))]),))
    appcmd = work / "appcmd.cmd"
    appcmd.write_text('@"%s" "%s" %%*\r\n' % (
        win(python_dir / "python.exe"), win(FAKE_APPCMD)))
    env = offline_env(wine, win(config))
    started = time.monotonic()
    result = subprocess.run(
        [wine.wine, str(python_dir / "python.exe"), "-m",
         "iiswsgi.msdeploy.install", "-v", "--build-token", TOKEN, "-e",
         "--appcmd", win(appcmd)], env=env, input=b"", capture_output=True,
        timeout=1200, cwd=str(work))
    elapsed = time.monotonic() - started
    print("offline install (Wine): %.1f s" % elapsed)
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    log = (folder / "iiswsgi_install.log").read_text(errors="replace") \
        if (folder / "iiswsgi_install.log").exists() else ""
    assert result.returncode == 0, output[-6000:] + log[-6000:]
    assert not marker.exists()
    assert not (folder / "iis_install.stamp").exists(), output + log
    venv = folder / ".venv"
    assert (venv / "python.exe").is_file()
    assert (venv / "python313._pth").read_text().splitlines() == [
        "python313.zip", ".", "Lib\\site-packages"]
    site_packages = venv / "Lib" / "site-packages"
    for package in ("flask", "markupsafe", "iiswsgi", "hello_app", "flup"):
        assert (site_packages / package).is_dir(), package
    assert list(site_packages.glob("markupsafe/*.pyd"))
    assert "offline" in log
    assert not [line for line in log.splitlines()
                if "deprecat" in line.lower()], log
    web_config = (folder / "web.config").read_text()
    assert win(venv / "python.exe") + "|-m iiswsgi" in web_config
    apphost = open(config, encoding="utf-8").read()
    assert 'fullPath="%s"' % win(venv / "python.exe") in apphost, apphost
    answer = served(wine, venv, folder, work)
    assert answer["status"] == 200, answer
    assert answer["body"] == (
        "hello from flask on win32, markupsafe from %s" % win(
            site_packages / "markupsafe" / "__init__.py")), answer


def test_package_built_on_linux_installs_offline_under_wine(server,
                                                            flask_package):
    """The whole journey for Windows: ``iiswsgi package`` on Linux for
    win_amd64 and CPython 3.13; the package's folder extracted into a site;
    its manifest's runCommand run under Wine with no index reachable; then
    a request over a real named pipe."""
    from iiswsgi.iis.cmdline import split_command_line
    from iiswsgi.msdeploy.package import extract_package
    from tests.integration.test_package_command import members, run_commands
    from tests.support.apphost import FAKE_APPCMD, write_apphost_config
    from tests.support.flask_project import NAME
    work, python_dir, _, _, wine = server
    win = winpython.windows_path
    (command,) = run_commands(members(flask_package.zip_path))
    argv = split_command_line(command[0])
    assert argv[0].endswith("iiswsgi_install.exe"), argv
    folder = work / "package-sites" / NAME
    extract_package(flask_package.zip_path, str(folder), NAME + "/")
    assert list((folder / "wheelhouse").glob(
        "markupsafe-*-cp313-cp313-win_amd64.whl"))
    config = write_apphost_config(
        work / "package-applicationHost.config", sites=(
            ("Default Web Site", 1, [("/" + NAME, "DefaultAppPool",
                                      win(folder))]),))
    appcmd = work / "package-appcmd.cmd"
    appcmd.write_text('@"%s" "%s" %%*\r\n' % (
        win(python_dir / "python.exe"), win(FAKE_APPCMD)))
    env = offline_env(wine, win(config))
    started = time.monotonic()
    result = subprocess.run(
        [wine.wine, str(python_dir / "python.exe"), "-m",
         "iiswsgi.msdeploy.install"] + argv[1:] + ["--appcmd", win(appcmd)],
        env=env, input=b"", capture_output=True, timeout=1200, cwd=str(work))
    print("offline install of the packaged project (Wine): %.1f s"
          % (time.monotonic() - started))
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 0, output[-6000:]
    assert not (folder / "iis_install.stamp").exists(), output[-4000:]
    venv = folder / ".venv"
    site_packages = venv / "Lib" / "site-packages"
    assert list(site_packages.glob("markupsafe/*.pyd"))
    web_config = (folder / "web.config").read_text()
    assert win(venv / "python.exe") + "|-m iiswsgi" in web_config
    assert "<fastCgi>" not in web_config
    apphost = open(config, encoding="utf-8").read()
    assert 'fullPath="%s"' % win(venv / "python.exe") in apphost, apphost
    answer = served(wine, venv, folder, work)
    assert answer["status"] == 200, answer
    assert answer["body"] == "Hello from Flask &lt;under&gt; IIS", answer
