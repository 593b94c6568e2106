"""iiswsgi_install installs only the folder whose stamp carries the
package's build token, never runs code in another site's folder, never
follows a stamp, a site folder or APPL_PHYSICAL_PATH out of the IIS sites,
never writes its log through a link, and keeps the stamp until the install
succeeded.  The sites come from the fake appcmd
(tests/support/fake_appcmd.py) over a real applicationHost.config."""

import logging
import os

import pytest

from iiswsgi.msdeploy import STAMP
from iiswsgi.msdeploy.install import (
    LOG_NAME, InstallError, find_app_directory, main)
from tests.support.apphost import write_apphost_config, write_fake_appcmd

TOKEN = "5f" * 32
OTHER = "a0" * 32


@pytest.fixture(autouse=True)
def install_log(caplog):
    """The bootstrap's messages, whatever level another test left on the
    "iiswsgi" logger (fuzz/targets.py silences it when imported)."""
    caplog.set_level(logging.INFO, logger="iiswsgi.msdeploy.install")
    caplog.set_level(logging.INFO, logger="iiswsgi.msdeploy.stamp")
    return caplog


@pytest.fixture
def iis(tmp_path):
    """Two sites' folders under ``sites``, a folder ``outside`` them
    holding a precious file, and the appcmd command line that lists
    them (plus any extra virtual directories given to ``iis.add``)."""
    sites = tmp_path / "sites"
    for name in ("A", "B"):
        (sites / name).mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    appcmd = write_fake_appcmd(tmp_path / "bin")

    class Iis:
        pass
    iis = Iis()
    iis.sites, iis.outside, iis.extra = sites, outside, []
    iis.env = {"TEST_SITES": str(sites)}

    def command():
        apps = [("/", "DefaultAppPool", "%TEST_SITES%/A"),
                ("/b", "DefaultAppPool", "%TEST_SITES%/B")] + [
            ("/x%d" % n, "DefaultAppPool", path)
            for n, path in enumerate(iis.extra)]
        config = write_apphost_config(tmp_path / "applicationHost.config",
                                      sites=(("Default Web Site", 1, apps),))
        return [appcmd, "/apphostconfig:" + config]
    iis.command = command

    def find(token=TOKEN, **env):
        return find_app_directory(token, appcmd=command(), environ=dict(
            iis.env, **env))
    iis.find = find
    return iis


def stamp(folder, age=0, token=TOKEN):
    path = folder / STAMP
    path.write_text("# not yet installed\n" + (
        "iiswsgi-build-token: %s\n" % token if token else ""))
    if age:
        os.utime(path, (os.path.getmtime(path) - age,) * 2)
    return path


def test_a_plain_stamp_is_found(iis):
    stamp(iis.sites / "B")
    assert iis.find() == str(iis.sites / "B")


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "directory"])
def test_an_untrusted_stamp_is_ignored(iis, caplog, kind):
    """A newer stamp that is a link (to a file outside the site), or not a
    file, loses to an older plain one, and alone it is no stamp."""
    stamp(iis.sites / "B", age=3600)
    untrusted = iis.sites / "A" / STAMP
    if kind == "symlink":
        untrusted.symlink_to(iis.outside / "precious")
    elif kind == "hardlink":
        os.link(iis.outside / "precious", untrusted)
    else:
        untrusted.mkdir()
    with caplog.at_level(logging.WARNING, "iiswsgi.msdeploy.stamp"):
        assert iis.find() == str(iis.sites / "B")
    assert "ignoring %s" % untrusted in caplog.text
    (iis.sites / "B" / STAMP).unlink()
    with pytest.raises(InstallError, match="found no iis_install.stamp"):
        iis.find()


def test_a_site_folder_with_dot_dot_is_not_searched(iis, caplog):
    stamp(iis.outside)
    iis.extra.append("%TEST_SITES%/A/../../outside")
    with pytest.raises(InstallError, match="found no"):
        iis.find()
    assert "has a '..' part" in caplog.text


def test_a_site_folder_that_is_a_link_is_still_the_site(iis):
    """What IIS itself serves (its physicalPath resolved) is the site."""
    linked = iis.sites / "linked"
    linked.symlink_to(iis.outside)
    iis.extra.append(str(linked))
    stamp(iis.outside)
    assert iis.find() == str(linked)


@pytest.mark.parametrize("path", ["A", "B", "A/sub"])
def test_appl_physical_path_inside_a_site(iis, path):
    (iis.sites / "A" / "sub").mkdir()
    stamp(iis.sites / path)
    given = str(iis.sites / path)
    assert iis.find(APPL_PHYSICAL_PATH=given) == given


@pytest.mark.parametrize("make, message", [
    (lambda iis: str(iis.sites / "A" / ".." / ".." / "outside"),
     "has a '..' part"),
    (lambda iis: str(iis.outside), "outside the folders of the IIS sites"),
    (lambda iis: os.symlink(iis.outside, iis.sites / "A" / "escape")
     or str(iis.sites / "A" / "escape"), "is a symbolic link"),
    (lambda iis: str(iis.sites / "A" / "missing"), "not a directory"),
])
def test_appl_physical_path_outside_the_sites_is_refused(iis, make, message):
    stamp(iis.outside)
    with pytest.raises(InstallError, match=message):
        iis.find(APPL_PHYSICAL_PATH=make(iis))


def test_appl_physical_path_without_appcmd(tmp_path):
    """No IIS to ask: the folder is used, as before (a '..' still is not)."""
    folder = tmp_path / "app"
    folder.mkdir()
    stamp(folder)
    missing = str(tmp_path / "no-appcmd.exe")
    assert find_app_directory(TOKEN, appcmd=missing, environ={
        "APPL_PHYSICAL_PATH": str(folder)}) == str(folder)
    with pytest.raises(InstallError, match="'..'"):
        find_app_directory(TOKEN, appcmd=missing, environ={
            "APPL_PHYSICAL_PATH": str(folder / ".." / "app")})


def run_main(iis, monkeypatch, folder, *args, setup=True):
    appcmd, config = iis.command()
    monkeypatch.setenv("IISWSGI_FAKE_APPHOST", config.partition(":")[2])
    monkeypatch.setenv("TEST_SITES", str(iis.sites))
    monkeypatch.delenv("APPL_PHYSICAL_PATH", raising=False)
    if setup:
        # A setup.py that records its arguments and fails while "fail"
        # is there.
        (folder / "setup.py").write_text(
            "import os, sys\n"
            "open('ran.txt', 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
            "sys.exit(3 if os.path.exists('fail') else 0)\n")
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        return main(["--appcmd", appcmd] + list(args))
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)


def plant(folder, token=None, age=-86400):
    """What a hostile site owner leaves: a stamp dated tomorrow (a copy of
    an old, token-less one, or one with ``token``), a setup.py and a
    pyproject.toml build backend that would leave a marker, and metadata
    naming the victim's dist."""
    stamp(folder, age=age, token=token)
    marker = folder.parent.parent / "HOSTILE-CODE-RAN"
    code = "open(%r, 'w').write('ran')\n" % str(marker)
    (folder / "setup.py").write_text(code)
    (folder / "backend.py").write_text(code)
    (folder / "pyproject.toml").write_text(
        "[build-system]\nrequires = []\nbuild-backend = 'backend'\n"
        "backend-path = ['.']\n\n[project]\nname = 'App'\n")
    (folder / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: App\n")
    return marker


@pytest.mark.parametrize("args", [[], ["-a", "App"], ["-v", "-a", "App"]])
def test_a_planted_stamp_in_another_site_never_runs(iis, monkeypatch, args):
    victim, hostile = iis.sites / "A", iis.sites / "B"
    stamp(victim, age=3600)
    (victim / "setup.cfg").write_text("[metadata]\nname = App\n")
    marker = plant(hostile)
    assert run_main(iis, monkeypatch, victim, "--build-token", TOKEN,
                    *args, "check") == 0
    assert not marker.exists()
    assert (victim / "ran.txt").read_text() == "check\n"
    assert not (victim / STAMP).exists()
    assert (hostile / STAMP).exists()


def test_a_copied_token_is_refused_with_both_folders(iis, monkeypatch,
                                                    caplog):
    victim, hostile = iis.sites / "A", iis.sites / "B"
    stamp(victim)
    marker = plant(hostile, token=TOKEN)
    assert run_main(iis, monkeypatch, victim, "--build-token", TOKEN,
                    "check") == 1
    assert not marker.exists() and not (victim / "ran.txt").exists()
    assert "refusing to choose: 2 folders" in caplog.text
    assert str(victim) in caplog.text and str(hostile) in caplog.text
    assert (victim / STAMP).exists()


def test_without_a_token_nothing_is_searched(iis, monkeypatch, caplog):
    """An old package (no --build-token): the folder must be named."""
    victim, hostile = iis.sites / "A", iis.sites / "B"
    stamp(victim, token=None)
    marker = plant(hostile)
    assert run_main(iis, monkeypatch, victim, "-a", "App", "check") == 1
    assert "Rebuild the package" in caplog.text
    assert "--directory" in caplog.text
    assert not marker.exists() and not (victim / "ran.txt").exists()
    assert run_main(iis, monkeypatch, victim, "--directory", str(victim),
                    "check") == 0
    assert (victim / "ran.txt").read_text() == "check\n"
    assert not marker.exists()


def test_a_named_folder_must_carry_the_token(iis, monkeypatch, caplog):
    hostile = iis.sites / "B"
    marker = plant(hostile)
    assert run_main(iis, monkeypatch, hostile, "--build-token", TOKEN,
                    "--directory", str(hostile), "check",
                    setup=False) == 1
    assert "has no build token" in caplog.text
    stamp(hostile, token=OTHER)
    assert run_main(iis, monkeypatch, hostile, "--build-token", TOKEN,
                    "--directory", str(hostile), "check",
                    setup=False) == 1
    assert "carries another build token" in caplog.text
    assert not marker.exists()


def test_a_bad_token_is_an_error(iis):
    stamp(iis.sites / "A")
    with pytest.raises(InstallError, match="64 lowercase hex"):
        iis.find(token=TOKEN.upper())


def test_only_a_trusted_stamp_with_the_token_counts(iis):
    stamp(iis.sites / "A", token=OTHER, age=-3600)
    stamp(iis.sites / "B")
    assert iis.find() == str(iis.sites / "B")
    (iis.sites / "B" / STAMP).unlink()
    with pytest.raises(InstallError, match="stamps of other packages in: "
                       + str(iis.sites / "A")):
        iis.find()


@pytest.mark.parametrize("make, message", [
    (lambda folder: None, "has no iis_install.stamp"),
    (lambda folder: stamp(folder, token=OTHER), "another build token"),
    (lambda folder: (folder / STAMP).symlink_to(folder.parent / "x")
     or (folder.parent / "x").write_text("iiswsgi-build-token: " + TOKEN),
     "is refused: it is a symbolic link"),
])
def test_appl_physical_path_without_appcmd_is_checked(tmp_path, make,
                                                      message):
    """No IIS to check it against: the folder must still hold a trusted
    stamp with the token."""
    folder = tmp_path / "app"
    folder.mkdir()
    make(folder)
    with pytest.raises(InstallError, match=message):
        find_app_directory(TOKEN, appcmd=str(tmp_path / "no-appcmd"),
                           environ={"APPL_PHYSICAL_PATH": str(folder)})
    link = tmp_path / "link"
    link.symlink_to(folder)
    stamp(folder)
    with pytest.raises(InstallError, match="is a symbolic link"):
        find_app_directory(TOKEN, appcmd=str(tmp_path / "no-appcmd"),
                           environ={"APPL_PHYSICAL_PATH": str(link)})


def test_a_failed_install_keeps_the_stamp_and_runs_again(iis, monkeypatch,
                                                         caplog):
    folder = iis.sites / "A"
    stamp(folder)
    (folder / "fail").write_text("")
    assert run_main(iis, monkeypatch, folder, "--build-token", TOKEN,
                    "check") == 3
    assert (folder / STAMP).exists()
    assert "left in place so that it can be run again" in caplog.text
    (folder / "fail").unlink()
    assert run_main(iis, monkeypatch, folder, "--build-token", TOKEN,
                    "check") == 0
    assert not (folder / STAMP).exists()
    assert (folder / "ran.txt").read_text() == "check\ncheck\n"


def test_0_3_command_line_passes_setup_options_through(iis, monkeypatch):
    """0.3's form: the setup.py commands and their options after ours."""
    folder = iis.sites / "A"
    stamp(folder)
    (folder / "setup.cfg").write_text("[metadata]\nname = App\n")
    assert run_main(iis, monkeypatch, folder, "-v", "--build-token", TOKEN,
                    "-a", "App", "install_msdeploy",
                    "--skip-fcgi-app-install", "-v", "test_msdeploy",
                    "-u", "/x") == 0
    assert (folder / "ran.txt").read_text() == (
        "install_msdeploy --skip-fcgi-app-install -v test_msdeploy -u /x\n")


def test_ignore_stamp_needs_the_folder(iis, monkeypatch, caplog):
    folder = iis.sites / "A"
    assert run_main(iis, monkeypatch, folder, "--build-token", TOKEN, "-i",
                    "check") == 1
    assert "-i (the stamp is gone) needs the folder" in caplog.text
    assert run_main(iis, monkeypatch, folder, "--build-token", TOKEN, "-i",
                    "-d", str(folder), "check") == 0


def test_a_linked_stamp_is_refused_not_removed(iis, monkeypatch, caplog):
    folder = iis.sites / "A"
    (folder / STAMP).symlink_to(iis.outside / "precious")
    assert run_main(iis, monkeypatch, folder, "-d", str(folder),
                    "check") == 1
    assert "is refused: it is a symbolic link" in caplog.text
    assert (folder / STAMP).is_symlink()
    assert (iis.outside / "precious").read_text() == "keep me"
    # -i does not need the stamp: it is left alone, the install goes on.
    assert run_main(iis, monkeypatch, folder, "-i", "-d", str(folder),
                    "check") == 0
    assert (folder / STAMP).is_symlink()


def test_the_log_is_never_written_through_a_link(iis, monkeypatch, caplog):
    folder = iis.sites / "A"
    stamp(folder)
    (folder / LOG_NAME).symlink_to(iis.outside / "precious")
    assert run_main(iis, monkeypatch, folder, "--build-token", TOKEN,
                    "check") == 1
    assert "refusing to log to" in caplog.text
    assert (iis.outside / "precious").read_text() == "keep me"
    assert (folder / STAMP).exists()        # nothing was done
    (folder / LOG_NAME).unlink()
    assert run_main(iis, monkeypatch, folder, "--build-token", TOKEN,
                    "check") == 0
    assert not (folder / STAMP).exists()
    assert "running" in (folder / LOG_NAME).read_text()


def test_declared_name_reads_files_only(tmp_path):
    from iiswsgi.msdeploy.install import declared_name
    folder = tmp_path / "p"
    folder.mkdir()
    assert declared_name(str(folder)) is None
    (folder / "setup.cfg").write_text("[metadata]\nname = from-cfg\n")
    assert declared_name(str(folder)) == "from-cfg"
    (folder / "pyproject.toml").write_text(
        "[tool.x]\nname = 'no'\n[project]\nname = \"from-toml\"\n")
    assert declared_name(str(folder)) == "from-toml"
    (folder / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: pkg\n")
    assert declared_name(str(folder)) == "pkg"


# -- registering the FastCGI application -------------------------------------

WFASTCGI_STYLE = """<?xml version="1.0" encoding="UTF-8"?>
<configuration>
  <system.webServer>
    <handlers>
      <add name="Python FastCGI" path="*" verb="*" modules="FastCgiModule"
           scriptProcessor="{python}|-m iiswsgi" resourceType="Unspecified"
           requireAccess="Script" />
    </handlers>
  </system.webServer>
  <appSettings>
    <add key="WSGI_HANDLER" value="app.app" />
  </appSettings>
</configuration>
"""

PASTE_STYLE = """<?xml version="1.0" encoding="UTF-8"?>
<configuration>
  <system.webServer>
    <fastCgi>
      <application fullPath="{python}" arguments="-m iiswsgi.cli serve x.ini"
                   maxInstances="2" />
    </fastCgi>
    <handlers>
      <add name="Paste" path="*" verb="*" modules="FastCgiModule"
           scriptProcessor="{python}|-m iiswsgi.cli serve x.ini" />
    </handlers>
  </system.webServer>
</configuration>
"""


@pytest.mark.parametrize("template, arguments, extra", [
    (WFASTCGI_STYLE, "-m iiswsgi", "signalBeforeTerminateSeconds='30'"),
    (PASTE_STYLE, "-m iiswsgi.cli serve x.ini", "maxInstances='2'"),
])
def test_both_web_config_styles_are_registered(tmp_path, monkeypatch,
                                               template, arguments, extra):
    import json
    import sys
    from iiswsgi.iis.appcmd import list_fastcgi_applications
    from iiswsgi.msdeploy.register import register_applications
    from iiswsgi.msdeploy.webconfig import read_web_config
    config = write_apphost_config(tmp_path / "applicationHost.config")
    appcmd = [write_fake_appcmd(tmp_path / "bin"), "/apphostconfig:" + config]
    record = tmp_path / "appcmd.jsonl"
    monkeypatch.setenv("IISWSGI_FAKE_APPCMD_RECORD", str(record))
    (tmp_path / "web.config").write_text(template.format(
        python=sys.executable))
    web_config = read_web_config(str(tmp_path / "web.config"))
    assert register_applications(web_config, appcmd) == 1
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert calls[-1] == [
        "/apphostconfig:" + config, "set", "config",
        "/section:system.webServer/fastCgi",
        "/+[fullPath='%s',arguments='%s',%s]" % (sys.executable, arguments,
                                                  extra),
        "/commit:apphost"]
    (entry,) = list_fastcgi_applications(appcmd)
    assert (entry["fullPath"], entry["arguments"]) == (sys.executable,
                                                       arguments)
    # Again: the entry is replaced, not doubled.
    assert register_applications(web_config, appcmd) == 1
    assert len(list_fastcgi_applications(appcmd)) == 1


def test_install_msdeploy_takes_0_3_s_with_a_warning(tmp_path):
    import subprocess
    import sys
    (tmp_path / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='x', version='1')\n")
    result = subprocess.run(
        [sys.executable, "setup.py", "install_msdeploy", "-s",
         "--install-method", "none"], cwd=str(tmp_path),
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, APPL_PHYSICAL_PATH=str(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "-s is deprecated: use -S" in result.stdout + result.stderr


def test_without_iiswsgi_anywhere_the_error_says_what_to_run(tmp_path):
    import venv
    from iiswsgi.msdeploy.install import Installer, ensure_iiswsgi
    venv.create(str(tmp_path / "env"), with_pip=False)
    python = str(tmp_path / "env" / "bin" / "python")
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    installer = Installer(python, str(tmp_path), [str(wheelhouse)], None,
                          dict(os.environ))
    assert not installer.can_import("iiswsgi")
    with pytest.raises(InstallError) as caught:
        ensure_iiswsgi(installer, str(wheelhouse))
    message = str(caught.value)
    assert "iiswsgi is not importable by %s" % python in message
    assert "%s holds no iiswsgi wheel" % wheelhouse in message
    assert "`%s -m pip install iiswsgi`" % python in message
