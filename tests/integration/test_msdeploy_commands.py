"""The setup.py commands on bad input, run as real `python setup.py`
processes in a copy of the sample: each fails with a clear error and
leaves nothing in dist/."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SAMPLE = os.path.join(ROOT, "examples", "sample.msdeploy")


@pytest.fixture
def project(tmp_path):
    target = tmp_path / "src"
    shutil.copytree(SAMPLE, target)
    return target


def setup_py(project, *args):
    # -S --install-method=none: nothing is installed into this Python.
    return subprocess.run(
        [sys.executable, "setup.py"] + list(args), cwd=project, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def bdist(project):
    return setup_py(project, "install_msdeploy", "--install-method=none",
                    "-S", "bdist_msdeploy", "--skip-install")


def test_bdist_ok_and_deterministic(project):
    result = bdist(project)
    assert result.returncode == 0, result.stdout
    (package,) = os.listdir(project / "dist")
    first = (project / "dist" / package).read_bytes()
    assert package.startswith("WSGISampleIISApp-0.2-py%d.%d-"
                              % sys.version_info[:2])
    assert package.endswith(".msdeploy.zip")
    os.utime(project / "setup.py", (1e9, 1e9))
    assert bdist(project).returncode == 0
    assert (project / "dist" / package).read_bytes() == first


def test_build_runs_build_msdeploy(project):
    result = setup_py(project, "build")
    assert result.returncode == 0, result.stdout
    assert "running build_msdeploy" in result.stdout
    assert (project / "Manifest.xml").is_file()
    assert (project / "iis_install.stamp").is_file()


PARAMETER = ('<parameter name="%s" tags="%s"><parameterEntry'
             ' kind="ProviderPath" scope="iisApp" match="x"/></parameter>')


@pytest.mark.parametrize("name, text, message", [
    # Without a Manifest.xml.in the build writes a default one
    # (tests/unit/test_msdeploy_build.py).
    ("Manifest.xml.in", "<MSDeploy.iisApp><iisApp path='x'>",
     "Manifest.xml.in is not well-formed XML: line 1"),
    ("Manifest.xml.in", "<m><iisApp path='x'/><runCommand"
     " waitAttempts='1'/></m>", "the 1st <runCommand> has no path"),
    ("Parameters.xml", "<parameters>%s%s</parameters>" % (
        PARAMETER % ("App", "iisApp"), PARAMETER % ("app", "")),
     "parameter 'app': the name is used twice"),
    ("Parameters.xml", "<parameters>%s</parameters>" % (
        PARAMETER % ("App", "Hidden")), "no parameter is tagged iisApp"),
])
def test_bad_input(project, name, text, message):
    if text is None:
        os.unlink(project / name)
    else:
        (project / name).write_text(text)
    result = bdist(project)
    assert result.returncode != 0
    assert message in result.stdout
    assert "Traceback" not in result.stdout
    assert not (project / "dist").exists() or not os.listdir(
        project / "dist")


@pytest.mark.parametrize("keyword, value, message", [
    ("title", "42", "setup() keyword title must be a string, not int: 42"),
    ("webpi_dependencies", "'iiswsgi'",
     "setup() keyword webpi_dependencies must be a list of strings"),
    ("msdeploy_package", "'yes'",
     "setup() keyword msdeploy_package must be True or False"),
])
def test_wrong_type_keyword(project, keyword, value, message):
    text = (project / "setup.py").read_text().replace(
        "    py_modules=[],", "    py_modules=[], %s=%s," % (keyword, value))
    text = text.replace('    title="IIS WSGI Sample App",\n', "") if (
        keyword == "title") else text
    (project / "setup.py").write_text(text)
    result = setup_py(project, "build_msdeploy")
    assert result.returncode != 0
    assert message in result.stdout


def test_unknown_keyword_is_named(project):
    text = (project / "setup.py").read_text().replace(
        "    py_modules=[],", "    py_modules=[], titel='x',")
    (project / "setup.py").write_text(text)
    result = setup_py(project, "--name")
    assert "Unknown distribution option: 'titel'" in result.stdout


def installed(project):
    """The copy with its web.config written, nothing installed or
    registered."""
    result = setup_py(project, "install_msdeploy", "--install-method=none",
                      "-S")
    assert result.returncode == 0, result.stdout
    assert (project / "web.config").is_file()
    return project


@pytest.mark.skipif(os.name == "nt", reason="the gateway probe needs POSIX")
def test_test_msdeploy_says_what_it_got(project):
    """The command's messages reach the terminal, whatever setuptools'
    logging does with the level they are given."""
    result = setup_py(installed(project), "test_msdeploy")
    assert result.returncode == 0, result.stdout
    assert "GET /: 200 OK" in result.stdout.splitlines()


@pytest.mark.skipif(os.name == "nt", reason="the gateway probe needs POSIX")
def test_test_msdeploy_shows_a_failed_answer(project):
    installed(project)
    (project / "iis_fcgi.ini").write_text(
        "[app:main]\nuse = call:broken_app:factory\n\n"
        "[server:main]\nuse = egg:iiswsgi#iis\n")
    (project / "broken_app.py").write_text(
        "def factory(global_conf, **conf):\n"
        "    def app(environ, start_response):\n"
        "        start_response('503 Service Unavailable',"
        " [('Content-Type', 'text/plain'), ('X-Broken', 'yes')])\n"
        "        return [b'the database is down']\n"
        "    return app\n")
    result = subprocess.run(
        [sys.executable, "setup.py", "test_msdeploy"], cwd=project,
        text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(project)))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "GET / answered 503 Service Unavailable" in output
    assert "X-Broken: yes" in output
    assert "the database is down" in output
    assert "Traceback" not in output
