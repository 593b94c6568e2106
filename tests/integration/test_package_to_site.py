"""The whole journey on Linux, offline: ``iiswsgi package`` builds the
pyproject-only Flask project (tests/support/flask_project.py) for this
machine's Python and platform; the package's folder is extracted into a
site as Web Deploy copies it, beside a hostile site that planted a stamp
and a setup.py; the manifest's own runCommand (its ``--build-token``, its
options) runs ``iiswsgi_install`` with no index reachable and the fake
appcmd; then the site's ``python -m iiswsgi`` answers a request started as
IIS starts it."""

import json
import os
import subprocess
import sys
import time
import zipfile

import pytest

from iiswsgi.iis.cmdline import split_command_line
from iiswsgi.msdeploy.package import extract_package
from tests.integration.test_install_offline import check_request, \
    offline_env
from tests.integration.test_package_command import members, run_commands
from tests.support.apphost import write_apphost_config, write_fake_appcmd
from tests.support.flask_project import NAME, flask_package_here  # noqa: F401

pytestmark = pytest.mark.skipif(os.name == "nt",
                                reason="the gateway probe needs POSIX")


def test_packaged_project_installs_offline_and_serves(flask_package_here,
                                                     tmp_path):
    files = members(flask_package_here.zip_path)
    (command,) = run_commands(files)
    argv = split_command_line(command[0])
    assert argv[0].endswith("iiswsgi_install.exe"), argv
    assert "--build-token" in argv and "-e" in argv, argv

    sites = tmp_path / "sites"
    folder = sites / NAME
    extract_package(flask_package_here.zip_path, str(folder), NAME + "/")
    assert (folder / "iis_install.stamp").is_file()
    assert not (folder / "web.config").exists()
    hostile = sites / "Hostile"
    hostile.mkdir()
    with zipfile.ZipFile(flask_package_here.zip_path) as archive:
        # A copy of the real stamp, token included, dated in the future.
        (hostile / "iis_install.stamp").write_bytes(
            archive.read(NAME + "/iis_install.stamp"))
    future = time.time() + 86400
    os.utime(hostile / "iis_install.stamp", (future, future))
    marker = tmp_path / "HOSTILE-CODE-RAN"
    (hostile / "setup.py").write_text("open(%r, 'w').write('x')\n"
                                      % str(marker))
    config = write_apphost_config(
        tmp_path / "applicationHost.config", sites=(("Default Web Site", 1, [
            ("/", "DefaultAppPool", str(hostile)),
            ("/" + NAME, "DefaultAppPool", str(folder))]),))
    appcmd = write_fake_appcmd(tmp_path / "bin")
    env = offline_env(tmp_path)
    env.update(IISWSGI_FAKE_APPHOST=config,
               IISWSGI_FAKE_APPCMD_RECORD=str(tmp_path / "appcmd.jsonl"))
    install = [sys.executable, "-m", "iiswsgi.msdeploy.install"] + argv[1:] \
        + ["--appcmd", appcmd]

    # Two folders carry the token: refused, both listed, nothing run.
    refused = subprocess.run(install, cwd=str(tmp_path), env=env,
                             capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0
    assert str(folder) in refused.stderr + refused.stdout
    assert str(hostile) in refused.stderr + refused.stdout
    assert not marker.exists()

    # The hostile copy gone, the package's folder is the only one.
    os.remove(hostile / "iis_install.stamp")
    started = time.monotonic()
    result = subprocess.run(install, cwd=str(tmp_path), env=env,
                            capture_output=True, text=True, timeout=900)
    print("offline install of the packaged project: %.1f s"
          % (time.monotonic() - started))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists()
    assert not (folder / "iis_install.stamp").exists()
    python = str(folder / ".venv" / "bin" / "python")
    calls = [json.loads(line) for line in
             (tmp_path / "appcmd.jsonl").read_text().splitlines()]
    assert any(call[:3] == ["set", "config",
                            "/section:system.webServer/fastCgi"]
               and "fullPath='%s'" % python in call[3] for call in calls), \
        calls
    web_config = (folder / "web.config").read_text()
    assert "<fastCgi>" not in web_config
    check_request(folder, python, "Hello from Flask &lt;under&gt; IIS")
