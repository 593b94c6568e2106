"""`iiswsgi package` and `setup.py bdist_msdeploy`, run for real: a
hatchling Flask project (no setup.py) built for Windows (CPython 3.13,
win_amd64) and for Linux, with wheels from PyPI; the sample's setup.py;
what a build leaves alone; the commands' messages on the oldest and newest
setuptools."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from iiswsgi.msdeploy.build import build_token
from iiswsgi.msdeploy.options import decode_provider_options
from tests.support.flask_project import (  # noqa: F401 (the fixture)
    NAME, TARGET_PLATFORM, TARGET_PYTHON, flask_package, flask_package_here,
    make_flask_project,
    package_command)
from tests.support.webdeploy import EXAMPLES, ROOT

pytestmark = pytest.mark.slow

TOKEN = re.compile(r"^iiswsgi-build-token: ([0-9a-f]{64})$", re.MULTILINE)


def members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in
                archive.infolist() if not info.is_dir()}


def wheel_names(files, name):
    prefix = name + "/wheelhouse/"
    return sorted(n[len(prefix):] for n in files if n.startswith(prefix))


def run_commands(files):
    """(path, settings) of every runCommand of the zip's Manifest.xml."""
    from iiswsgi.msdeploy.manifest import read_manifest
    manifest = read_manifest(files["Manifest.xml"].decode("utf-8"))
    found = []
    for element in manifest.root:
        if element.tag == "runCommand":
            options = decode_provider_options(
                element.get("MSDeploy.MSDeployProviderOptions"))
            found.append((element.get("path"), options))
    return found


def recomputed_token(path, name):
    """The build token from the zip itself: every file but the manifest
    and the stamp (what the install side can check)."""
    files = members(path)
    folder = os.path.join(os.path.dirname(path), "tokens-" + os.path.basename(
        path))
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for index, (entry, data) in enumerate(sorted(files.items())):
        if entry in ("Manifest.xml", name + "/iis_install.stamp"):
            continue
        paths[entry] = os.path.join(folder, str(index))
        with open(paths[entry], "wb") as stream:
            stream.write(data)
    try:
        return build_token(paths)
    finally:
        shutil.rmtree(folder)


def test_flask_package_for_windows(flask_package):
    path = flask_package.zip_path
    assert os.path.basename(path) == "%s-0.1-py%s-%s.msdeploy.zip" % (
        NAME, TARGET_PYTHON, TARGET_PLATFORM)
    files = members(path)
    wheels = wheel_names(files, NAME)
    print("wheelhouse (%.1f s):" % flask_package.seconds, *wheels, sep="\n  ")
    assert any(re.match(r"^markupsafe-[\d.]+-cp313-cp313-win_amd64\.whl$", w,
                        re.I) for w in wheels), wheels
    for project in ("flask", "werkzeug", "jinja2", "itsdangerous", "click",
                    "blinker", "iiswsgi", "defusedxml", "flup",
                    "pastedeploy", "waitress", "flaskiisapp"):
        assert any(w.lower().startswith(project + "-") for w in wheels), (
            project, wheels)
    assert not any("linux" in w or "macosx" in w for w in wheels), wheels
    # The stamp, with the token, and every iiswsgi_install given it.
    stamp = files[NAME + "/iis_install.stamp"].decode("utf-8")
    (token,) = TOKEN.findall(stamp)
    assert token == recomputed_token(path, NAME)
    (command,) = run_commands(files)
    assert re.search(r"iiswsgi_install\.exe --build-token %s -v -e -a %s$"
                     % (token, NAME), command[0]), command
    assert command[1][1] == command[0]
    settings = dict(command[1][2])
    assert settings["successReturnCodes"] == "0x0"
    assert int(settings["waitAttempts"]) * int(settings["waitInterval"]) \
        >= 60000
    # The default Manifest: iisApp and setAcl on the folder; Parameters
    # asks for the application path.
    manifest = files["Manifest.xml"].decode("utf-8")
    assert '<iisApp path="%s" />' % NAME in manifest
    assert '<setAcl path="%s"' % NAME in manifest
    assert 'tags="iisApp"' in files["Parameters.xml"].decode("utf-8")
    web_config = files[NAME + "/web.config.in"].decode("utf-8")
    assert '<add key="WSGI_HANDLER" value="flask_iis_app.app" />' \
        in web_config
    assert 'scriptProcessor="%PYTHON_EXE%|-m iiswsgi"' in web_config
    # The progress: one line per wheel.
    for wheel in wheels:
        assert "wheelhouse: %s" % wheel in flask_package.output


def test_flask_package_is_reproducible_and_leaves_the_project_alone(
        flask_package, tmp_path):
    before = sorted(os.walk(flask_package.project))
    result = package_command(flask_package.project, "--python",
                             TARGET_PYTHON, "-d", str(tmp_path),
                             env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert result.returncode == 0, result.stderr
    again = result.stdout.strip()
    assert os.path.dirname(again) == str(tmp_path)
    with open(again, "rb") as one, open(flask_package.zip_path, "rb") as two:
        assert hashlib.sha256(one.read()).hexdigest() == \
            hashlib.sha256(two.read()).hexdigest()
    assert sorted(os.walk(flask_package.project)) == before
    assert sorted(os.listdir(flask_package.project)) == [
        "dist", "pyproject.toml", "src"]


def test_flask_package_for_linux(flask_package_here):
    python = "%d.%d" % sys.version_info[:2]
    path = flask_package_here.zip_path
    assert path.endswith("-py%s-manylinux2014_x86_64.msdeploy.zip" % python)
    wheels = wheel_names(members(path), NAME)
    tag = "cp%s" % python.replace(".", "")
    assert any(re.match(r"^markupsafe-.*-%s-%s-.*manylinux.*x86_64\.whl$"
                        % (tag, tag), w, re.I) for w in wheels), wheels
    assert not any("win" in w for w in wheels), wheels


def test_the_wheelhouse_installs_offline(flask_package_here, tmp_path):
    """What the README says to do on a server without internet, here:
    iiswsgi and the application from the wheelhouse alone."""
    with zipfile.ZipFile(flask_package_here.zip_path) as archive:
        archive.extractall(tmp_path / "unzipped")
    house = tmp_path / "unzipped" / NAME / "wheelhouse"
    target = tmp_path / "site-packages"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index",
         "--find-links", str(house), "--target", str(target), "iiswsgi",
         "FlaskIISApp"], text=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PIP_FIND_LINKS="", PIP_EXTRA_INDEX_URL="",
                 PIP_CONFIG_FILE=os.devnull))
    assert installed.returncode == 0, installed.stdout
    answer = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys; sys.path.insert(0, %r)\n"
         "import iiswsgi.hosting.handler, flask_iis_app\n"
         "print(flask_iis_app.app.test_client().get('/').data.decode())"
         % str(target)], text=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, cwd=str(tmp_path))
    assert answer.stdout.strip() == \
        "Hello from Flask &lt;under&gt; IIS", answer.stdout


def test_a_dependency_without_a_wheel_is_named(tmp_path):
    project = make_flask_project(tmp_path / "src")
    pyproject = os.path.join(project, "pyproject.toml")
    with open(pyproject) as stream:
        text = stream.read()
    with open(pyproject, "w") as stream:
        # pywin32 has wheels for Windows only.
        stream.write(text.replace('"MarkupSafe>=2.1"',
                                  '"MarkupSafe>=2.1", "pywin32"'))
    result = package_command(project, "--platform", "manylinux2014_x86_64")
    assert result.returncode == 1
    assert "no wheel of pywin32" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(os.path.join(project, "dist"))


def test_python_m_iiswsgi_runs_the_command_and_stays_the_gateway(tmp_path):
    help_text = subprocess.run(
        [sys.executable, "-m", "iiswsgi", "package", "--help"], text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert help_text.returncode == 0
    assert "--platform TAG" in help_text.stdout
    # No arguments, a file as standard input: the gateway's one line.
    with open(os.devnull) as stdin:
        gateway = subprocess.run(
            [sys.executable, "-m", "iiswsgi"], stdin=stdin, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
            env=dict(os.environ, WSGI_LOG=str(tmp_path / "log")))
    assert "usage: iiswsgi" not in gateway.stdout
    assert "package" not in gateway.stdout


# -- setup.py projects ------------------------------------------------------

@pytest.fixture
def sample(tmp_path):
    target = tmp_path / "src"
    shutil.copytree(os.path.join(EXAMPLES, "sample.msdeploy"), target)
    return target


def setup_py(python, project, *args):
    return subprocess.run([python, "setup.py"] + list(args), cwd=project,
                          text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)


def test_bdist_packs_the_stamp_without_a_manifest_in_entry(python, sample):
    # The example's MANIFEST.in does not name the stamp (it needn't).
    assert "iis_install.stamp" not in (sample / "MANIFEST.in").read_text()
    result = setup_py(python, sample, "bdist_msdeploy", "--no-wheelhouse")
    assert result.returncode == 0, result.stdout
    (package,) = (sample / "dist").iterdir()
    files = members(str(package))
    stamp = files["WSGISampleIISApp/iis_install.stamp"].decode("utf-8")
    assert stamp.startswith("# IIS app post-install deployment")
    (token,) = TOKEN.findall(stamp)
    assert token == recomputed_token(str(package), "WSGISampleIISApp")
    # The project's own Manifest.xml.in, without --build-token in it.
    (command,) = run_commands(files)
    assert "iiswsgi_install.exe --build-token %s -v -a WSGISampleIISApp" \
        % token in command[0]
    assert command[1][1] == command[0]


def test_bdist_installs_nothing_and_keeps_web_config(python, sample):
    hand_written = b"<configuration><!-- mine --></configuration>\n"
    (sample / "web.config").write_bytes(hand_written)
    result = setup_py(python, sample, "bdist_msdeploy", "--no-wheelhouse")
    assert result.returncode == 0, result.stdout
    assert (sample / "web.config").read_bytes() == hand_written
    shown = subprocess.run([python, "-m", "pip", "show", "WSGISampleIISApp"],
                           text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    assert shown.returncode != 0, shown.stdout
    assert "running develop" not in result.stdout
    (package,) = (sample / "dist").iterdir()
    assert package.name == "WSGISampleIISApp-0.2-py%d.%d-win_amd64" \
        ".msdeploy.zip" % sys.version_info[:2]
    assert "WSGISampleIISApp/web.config" not in members(str(package))


def test_package_command_on_a_setup_py_project(sample, tmp_path):
    result = package_command(sample, "--python", "3.13", "-d",
                             str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip()
    assert os.path.basename(path) == \
        "WSGISampleIISApp-0.2-py3.13-win_amd64.msdeploy.zip"
    wheels = wheel_names(members(path), "WSGISampleIISApp")
    assert any(w.startswith("iiswsgi-") for w in wheels), wheels
    assert any(w.lower().startswith("wsgisampleiisapp-0.2-")
               for w in wheels), wheels


def test_package_command_without_the_wheelhouse(sample, tmp_path):
    """`iiswsgi package --no-wheelhouse`: the package as bdist_msdeploy
    --no-wheelhouse makes it, nothing downloaded, no wheelhouse in it,
    and the build token still that of what it holds."""
    result = package_command(sample, "--no-wheelhouse", "-d",
                             str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip()
    files = members(path)
    assert not wheel_names(files, "WSGISampleIISApp")
    assert not any("/wheelhouse/" in name for name in files)
    assert "WSGISampleIISApp/setup.py" in files
    stamp = files["WSGISampleIISApp/iis_install.stamp"].decode("utf-8")
    (token,) = TOKEN.findall(stamp)
    assert token == recomputed_token(path, "WSGISampleIISApp")
    shown = package_command(sample, "--help")
    assert "--no-wheelhouse" in shown.stdout


def test_package_command_names_a_failing_setup_py(sample, tmp_path):
    """setup.py runs in the command's own process: its failure is the
    command's error (status 1, the message), and standard output stays
    empty."""
    (sample / "Manifest.xml.in").write_text("<MSDeploy.iisApp>")
    result = package_command(sample, "--no-wheelhouse", "-d",
                             str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "python setup.py bdist_msdeploy in %s failed" % sample \
        in result.stderr
    assert "Manifest.xml.in" in result.stderr
    (sample / "setup.py").write_text("raise RuntimeError('broken on"
                                     " purpose')\n")
    result = package_command(sample, "--no-wheelhouse")
    assert result.returncode == 1
    assert "raised RuntimeError: broken on purpose" in result.stderr
    assert result.stdout == ""


def test_old_placeholders_are_named(python, sample):
    template = sample / "Manifest.xml.in"
    text = template.read_text().replace("-a %DIST_NAME%", "-a {DIST_NAME}")
    template.write_text(text)
    line = text.splitlines().index(next(
        line for line in text.splitlines() if "{DIST_NAME}" in line)) + 1
    result = setup_py(python, sample, "bdist_msdeploy", "--no-wheelhouse")
    assert result.returncode == 0, result.stdout
    assert re.search(r"Manifest\.xml\.in, line %d: \{DIST_NAME\} is left as"
                     r" it is: .* write \$\{DIST_NAME\}" % line,
                     result.stdout), result.stdout


# -- messages on the oldest and newest setuptools ----------------------------

# 61 is the oldest pyproject.toml allows; 81 is what a venv gets under the
# paster extra's cap (its announce() calls once printed nothing); then the newest.
SETUPTOOLS = ["setuptools==61.0.0", "setuptools==81.0.0", "setuptools"]


@pytest.fixture(scope="module", params=SETUPTOOLS)
def setuptools_python(request, tmp_path_factory):
    """A virtual environment with that setuptools, seeing iiswsgi and its
    dependencies (this environment's site-packages, after its own)."""
    import sysconfig
    folder = tmp_path_factory.mktemp("setuptools") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip",
                    str(folder)], check=True)
    python = str(folder / "bin" / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()"
         "['purelib'])"], text=True, stdout=subprocess.PIPE,
        check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "--no-deps", "--target", purelib, request.param],
                   check=True, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT)
    ours = sysconfig.get_paths()["purelib"]
    with open(os.path.join(purelib, "zz-iiswsgi-test.pth"), "w") as stream:
        stream.write("%s\n%s\n" % (ROOT, ours))
    version = subprocess.run(
        [python, "-c", "import setuptools; print(setuptools.__version__)"],
        text=True, stdout=subprocess.PIPE, check=True).stdout.strip()
    return python, version


@pytest.mark.skipif(os.name == "nt", reason="the gateway probe needs POSIX")
def test_messages_show_on_every_setuptools(setuptools_python, sample,
                                           tmp_path):
    python, version = setuptools_python
    result = setup_py(python, sample, "install_msdeploy",
                      "--install-method=none", "-S")
    assert result.returncode == 0, result.stdout
    result = setup_py(python, sample, "test_msdeploy")
    assert result.returncode == 0, result.stdout
    assert "GET /: 200 OK" in result.stdout.splitlines(), (version,
                                                            result.stdout)
    result = setup_py(python, sample, "bdist_msdeploy", "--no-wheelhouse",
                      "bdist_webpi")
    assert result.returncode == 0, result.stdout
    assert re.search(r"add this feed in WebPI .*: file://", result.stdout), (
        version, result.stdout)
    assert "wrote " in result.stdout
    cache = tmp_path / "webpi"
    (cache / "installers" / "WSGISampleIISApp").mkdir(parents=True)
    result = setup_py(python, sample, "clean_webpi", "-n", "-c", str(cache))
    assert result.returncode == 0, result.stdout
    assert "would remove %s" % (cache / "installers" / "WSGISampleIISApp") \
        in result.stdout, (version, result.stdout)
