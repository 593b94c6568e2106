"""iiswsgi.msdeploy.build (and the project settings it reads): the build
token, the stamp, the token in runCommands, the generated defaults, and a
whole build without a wheelhouse (nothing fetched)."""

import logging
import os
import re
import zipfile

import pytest

from iiswsgi.msdeploy import PackageError
from iiswsgi.msdeploy.build import (PackageSpec, build_package, build_token,
                                    default_web_config, package_filename,
                                    stamp_text)
from iiswsgi.msdeploy.manifest import (Manifest, add_build_token,
                                       convert_manifest, default_manifest)
from iiswsgi.msdeploy.options import decode_provider_options
from iiswsgi.msdeploy.project import check_settings, read_tool_settings
from iiswsgi.msdeploy.template import old_placeholders, substitute
from iiswsgi.msdeploy.webconfig import read_web_config
from iiswsgi.msdeploy.wheelhouse import Target
from iiswsgi import safexml

TOKEN = "0123456789abcdef" * 4


@pytest.mark.parametrize("command, expected", [
    (r"%SystemDrive%\Python313\Scripts\iiswsgi_install.exe -v -a App",
     r"%SystemDrive%\Python313\Scripts\iiswsgi_install.exe --build-token T"
     r" -v -a App"),
    ("iiswsgi_install", "iiswsgi_install --build-token T"),
    (r'"C:\Program Files\Python313\Scripts\iiswsgi_install.exe" -e',
     r'"C:\Program Files\Python313\Scripts\iiswsgi_install.exe"'
     r" --build-token T -e"),
    ("python -m iiswsgi.msdeploy.install -v",
     "python -m iiswsgi.msdeploy.install --build-token T -v"),
    ("iiswsgi_install --build-token old -v --build-token=x",
     "iiswsgi_install --build-token T -v"),
    ("cmd /c echo iiswsgi_installer", "cmd /c echo iiswsgi_installer"),
    ("my_iiswsgi_install -v", "my_iiswsgi_install -v"),
])
def test_add_build_token(command, expected):
    assert add_build_token(command, "T") == expected


def test_build_token_covers_names_and_contents(tmp_path):
    (tmp_path / "a").write_bytes(b"one")
    (tmp_path / "b").write_bytes(b"two")
    files = {"App/a.txt": str(tmp_path / "a"), "App/b.txt": str(tmp_path / "b")}
    token = build_token(files)
    assert re.match(r"^[0-9a-f]{64}$", token)
    assert build_token(dict(reversed(list(files.items())))) == token
    assert build_token({"App/a.txt": str(tmp_path / "b"),
                        "App/b.txt": str(tmp_path / "a")}) != token
    assert build_token({"App/c.txt": str(tmp_path / "a"),
                        "App/b.txt": str(tmp_path / "b")}) != token
    (tmp_path / "a").write_bytes(b"onf")
    assert build_token(files) != token


def test_stamp_text(tmp_path):
    assert stamp_text(None, TOKEN).splitlines()[-1] == \
        "iiswsgi-build-token: " + TOKEN
    template = tmp_path / "iis_install.stamp.in"
    template.write_text("# not yet run\niiswsgi-build-token: stale\n")
    assert stamp_text(str(template), TOKEN) == (
        "# not yet run\niiswsgi-build-token: %s\n" % TOKEN)


def test_default_manifest_converted_with_the_token():
    text = substitute(default_manifest(
        "App", r"%SystemDrive%\Python313\Scripts\iiswsgi_install.exe -v"),
        {"SystemDrive": "C:"})
    manifest = convert_manifest(Manifest(safexml.parse(text, "m")), TOKEN)
    names = [provider.name for provider in manifest.providers]
    assert names == ["iisApp", "setAcl", "runCommand"]
    run = manifest.root.find("runCommand")
    # %SystemDrive% is kept for cmd.exe on the target to expand.
    assert run.get("path") == (r"%SystemDrive%\Python313\Scripts"
                               r"\iiswsgi_install.exe --build-token "
                               + TOKEN + " -v")
    provider, path, settings = decode_provider_options(
        run.get("MSDeploy.MSDeployProviderOptions"))
    assert (provider, path) == ("runCommand", run.get("path"))
    assert dict(settings) == {"successReturnCodes": "0x0",
                              "waitAttempts": "60", "waitInterval": "5000"}


def test_default_web_config_names_the_handler(tmp_path):
    template = tmp_path / "web.config.in"
    template.write_text(default_web_config("my.app:weird$%<name>"))
    output = tmp_path / "web.config"
    from iiswsgi.msdeploy.webconfig import write_web_config
    config = write_web_config(str(template), str(output), {
        "PYTHON_EXE": r"C:\Python313\python.exe", "SEP": "\\",
        "APPL_PHYSICAL_PATH": r"C:\inetpub\App"})
    (handler,) = config.handlers
    assert handler.script_processor == r"C:\Python313\python.exe|-m iiswsgi"
    from iiswsgi.iis.webconfig import read_web_config as read_model
    settings = read_model(str(output)).app_settings
    assert settings["WSGI_HANDLER"] == "my.app:weird$%<name>"
    assert settings["WSGI_LOG"] == r"C:\inetpub\App\iiswsgi.log"


def test_package_filename_names_the_target():
    assert package_filename("My-App", "1.0-1", Target("3.13", "win_amd64")) \
        == "My_App-1.0_1-py3.13-win_amd64.msdeploy.zip"


@pytest.mark.parametrize("python, platform, message", [
    ("3", "win_amd64", "--python '3': give the target Python as X.Y"),
    ("3.13", "linux-x86_64", "--platform 'linux-x86_64': give a wheel"),
    ("3.13", "solaris", "--platform 'solaris'"),
])
def test_target_errors(python, platform, message):
    with pytest.raises(PackageError, match=re.escape(message)):
        Target(python, platform)


def test_old_placeholders_warn_with_file_and_line(caplog):
    caplog.set_level(logging.WARNING, "iiswsgi.msdeploy.template")
    text = ("<a>\n<b x='{DIST_NAME}' y='${DIST_NAME}'/>"
            "<rewrite to='https://{HTTP_HOST}/{R:1}'/></a>")
    assert substitute(text, {"DIST_NAME": "App"}, source="Manifest.xml.in") \
        == ("<a>\n<b x='{DIST_NAME}' y='App'/>"
            "<rewrite to='https://{HTTP_HOST}/{R:1}'/></a>")
    assert old_placeholders(text, "t") == [(2, "{DIST_NAME}")]
    assert "Manifest.xml.in, line 2: {DIST_NAME} is left as it is" \
        in caplog.text
    assert "write ${DIST_NAME}" in caplog.text
    assert "HTTP_HOST" not in caplog.text


def test_settings_are_checked(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.iiswsgi]\nwsgi-handler = "app.wsgi"\n'
        'webpi-dependencies = ["WDeploy"]\nwait-attempts = 3\n')
    assert read_tool_settings(str(tmp_path)) == {
        "wsgi-handler": "app.wsgi", "webpi-dependencies": ["WDeploy"],
        "wait-attempts": 3}
    with pytest.raises(PackageError, match=r"x: wsgi_handler is not an"
                       r" iiswsgi setting \(did you mean wsgi-handler\?\)"):
        check_settings({"wsgi_handler": "a"}, "x")
    with pytest.raises(PackageError, match=r"x: webpi-dependencies = 'a'"
                       r" must be a list of strings"):
        check_settings({"webpi-dependencies": "a"}, "x")
    with pytest.raises(PackageError, match="wait-attempts = True must be a"
                       " whole number"):
        check_settings({"wait-attempts": True}, "x")
    (tmp_path / "pyproject.toml").write_text("[tool.iiswsgi\n")
    with pytest.raises(PackageError, match="pyproject.toml cannot be read"):
        read_tool_settings(str(tmp_path))


def snapshot(folder):
    found = {}
    for top, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(top, name)
            with open(path, "rb") as stream:
                found[os.path.relpath(path, folder)] = stream.read()
    return found


def spec(project, **overrides):
    values = dict(project_dir=str(project), name="App", version="1.0",
                  target=Target("3.13", "win_amd64"),
                  dist_dir=str(project / "dist"),
                  variables={"DIST_NAME": "App"},
                  content={"app.ini": str(project / "app.ini")},
                  settings={"wsgi-handler": "app.application"},
                  wheelhouse=False)
    values.update(overrides)
    return PackageSpec(**values)


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "app.ini").write_text("[app:main]\n")
    return folder


def test_build_with_defaults_is_reproducible_and_writes_only_dist(project):
    before = snapshot(project)
    result = build_package(spec(project))
    assert os.path.basename(result.path) == \
        "App-1.0-py3.13-win_amd64.msdeploy.zip"
    with open(result.path, "rb") as stream:
        first = stream.read()
    os.unlink(result.path)
    again = build_package(spec(project))
    with open(again.path, "rb") as stream:
        assert stream.read() == first
    after = snapshot(project)
    assert {k: v for k, v in after.items() if not k.startswith("dist")} \
        == before
    with zipfile.ZipFile(result.path) as archive:
        names = archive.namelist()
        stamp = archive.read("App/iis_install.stamp").decode()
        manifest = archive.read("Manifest.xml").decode()
    assert sorted(n for n in names if not n.endswith("/")) == [
        "App/app.ini", "App/iis_install.stamp", "App/web.config.in",
        "Manifest.xml", "Parameters.xml"]
    assert stamp.endswith("iiswsgi-build-token: %s\n" % result.token)
    assert "--build-token %s -v -e -a App" % result.token in manifest


def test_the_project_templates_are_used(project):
    (project / "Manifest.xml.in").write_text(
        "<MSDeploy.iisApp><iisApp path='%DIST_NAME%'/><runCommand"
        " path='%%SystemDrive%%\\py\\Scripts\\iiswsgi_install.exe -a"
        " %DIST_NAME%' waitAttempts='2'/></MSDeploy.iisApp>")
    (project / "iis_install.stamp.in").write_text("# mine\n")
    (project / "web.config.in").write_text("<configuration/>")
    result = build_package(spec(
        project, manifest_template=str(project / "Manifest.xml.in"),
        stamp_template=str(project / "iis_install.stamp.in"),
        content={"web.config.in": str(project / "web.config.in"),
                 "iis_install.stamp": str(project / "app.ini")},
        settings={}))
    with zipfile.ZipFile(result.path) as archive:
        stamp = archive.read("App/iis_install.stamp").decode()
        assert archive.read("App/web.config.in") == b"<configuration/>"
    assert stamp == "# mine\niiswsgi-build-token: %s\n" % result.token
    (run,) = [p for p in result.manifest.providers if p.name == "runCommand"]
    assert run.path == ("%%SystemDrive%%\\py\\Scripts\\iiswsgi_install.exe"
                        " --build-token %s -a App" % result.token)


def test_no_handler_and_no_web_config_is_an_error(project):
    with pytest.raises(PackageError, match="has no web.config.in and no"
                       " wsgi-handler setting"):
        build_package(spec(project, settings={}))
    assert not (project / "dist").exists()
