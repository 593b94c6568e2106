"""The Web Deploy flow on this system, for the tests that need a deployed
example: bdist_msdeploy in a copy of the example, the zip unpacked into a
site folder as Web Deploy would, a (fake) IIS whose site points there, and
iiswsgi_install finding it through appcmd and the stamp.

The ``python`` fixture these functions take (a throw-away virtual
environment standing in for the system Python) is in tests/conftest.py.
"""

import os
import platform
import shutil
import sys
import subprocess
import zipfile

from tests.support.apphost import write_apphost_config, write_fake_appcmd

__all__ = ["ROOT", "EXAMPLES", "run", "build", "unpack", "deploy"]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")


def run(command, cwd, env=None, check=True):
    result = subprocess.run(command, cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and result.returncode:
        raise AssertionError("%s failed (%d):\n%s" % (
            " ".join(map(str, command)), result.returncode, result.stdout))
    return result


#: The wheel platform of this machine, for a package these tests install
#: here (a package is built for win_amd64 unless told otherwise).
HERE = {"linux": "manylinux2014_%s" % platform.machine(),
        "darwin": "macosx_11_0_%s" % platform.machine()}.get(sys.platform,
                                                           "win_amd64")


def build(python, example, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(os.path.join(EXAMPLES, example), source)
    version = run([python, "-c", "import sys; print('%d.%d' %"
                   " sys.version_info[:2])"], source).stdout.strip()
    run([python, "setup.py", "bdist_msdeploy", "--platform", HERE,
         "--python", version], source)
    (package,) = (source / "dist").iterdir()
    return package


def unpack(package, name, sites):
    """What Web Deploy does with the package's content folder."""
    from iiswsgi.msdeploy.package import extract_package
    target = sites / name
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
        assert "Manifest.xml" in names and "Parameters.xml" in names
    # Members that would leave the site (absolute, a drive, '..', a
    # backslash, a link) are refused: tests/unit/test_msdeploy_zip_safety.py.
    extract_package(str(package), str(target), name + "/")
    return target


def deploy(tmp_path, python, example, name, install_args):
    package = build(python, example, tmp_path)
    sites = tmp_path / "sites"
    app_dir = unpack(package, name, sites)
    assert (app_dir / "iis_install.stamp").is_file()
    (sites / "Other").mkdir()
    config = write_apphost_config(tmp_path / "applicationHost.config", sites=(
        ("Default Web Site", 1, [
            ("/", "DefaultAppPool", "%TEST_SITES%\\Other"),
            ("/" + name, "DefaultAppPool", "%TEST_SITES%/" + name)]),
    ))
    appcmd = write_fake_appcmd(tmp_path / "bin")
    env = dict(os.environ, TEST_SITES=str(sites),
               IISWSGI_FAKE_APPHOST=config)
    env.pop("APPL_PHYSICAL_PATH", None)
    # The package's build token finds the folder; a package without one
    # (built by an older build_msdeploy) must name it.
    from iiswsgi.msdeploy.stamp import read_build_token
    token = read_build_token(str(app_dir))
    where = ["--build-token", token] if token else [
        "--directory", str(app_dir)]
    command = [python, "-m", "iiswsgi.msdeploy.install", "-v", "--appcmd",
               appcmd] + where + ["-a", name] + install_args
    result = run(command, str(tmp_path), env, check=False)
    return app_dir, config, appcmd, env, command, result
