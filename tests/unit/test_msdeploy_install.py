"""iiswsgi_install never follows a stamp, a site folder or
APPL_PHYSICAL_PATH out of the IIS sites, and never writes its log
through a link.  The sites come from the fake appcmd
(tests/support/fake_appcmd.py) over a real applicationHost.config."""

import logging
import os

import pytest

from iiswsgi.msdeploy import STAMP
from iiswsgi.msdeploy.install import (
    LOG_NAME, InstallError, find_app_directory, main)
from tests.support.apphost import write_apphost_config, write_fake_appcmd


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

    def find(**env):
        return find_app_directory(appcmd=command(), environ=dict(
            iis.env, **env))
    iis.find = find
    return iis


def stamp(folder, age=0):
    path = folder / STAMP
    path.write_text("# not yet installed")
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
    given = str(iis.sites / path)
    assert iis.find(APPL_PHYSICAL_PATH=given) == given


@pytest.mark.parametrize("make, message", [
    (lambda iis: str(iis.sites / "A" / ".." / ".." / "outside"),
     "has a '..' part"),
    (lambda iis: str(iis.outside), "outside the folders of the IIS sites"),
    (lambda iis: os.symlink(iis.outside, iis.sites / "A" / "escape")
     or str(iis.sites / "A" / "escape"), "outside the folders of the IIS"),
    (lambda iis: str(iis.sites / "A" / "missing"), "not a directory"),
])
def test_appl_physical_path_outside_the_sites_is_refused(iis, make, message):
    with pytest.raises(InstallError, match=message):
        iis.find(APPL_PHYSICAL_PATH=make(iis))


def test_appl_physical_path_without_appcmd(tmp_path):
    """No IIS to ask: the folder is used, as before (a '..' still is not)."""
    folder = tmp_path / "app"
    folder.mkdir()
    missing = str(tmp_path / "no-appcmd.exe")
    assert find_app_directory(appcmd=missing, environ={
        "APPL_PHYSICAL_PATH": str(folder)}) == str(folder)
    with pytest.raises(InstallError, match="'..'"):
        find_app_directory(appcmd=missing, environ={
            "APPL_PHYSICAL_PATH": str(folder / ".." / "app")})


def run_main(iis, monkeypatch, folder, *args):
    appcmd, config = iis.command()
    monkeypatch.setenv("IISWSGI_FAKE_APPHOST", config.partition(":")[2])
    monkeypatch.setenv("TEST_SITES", str(iis.sites))
    monkeypatch.setenv("APPL_PHYSICAL_PATH", str(folder))
    (folder / "setup.py").write_text("import sys; sys.exit(0)\n")
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        return main(["--appcmd", appcmd] + list(args) + ["check"])
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)


def test_a_linked_stamp_is_refused_not_removed(iis, monkeypatch, caplog):
    folder = iis.sites / "A"
    (folder / STAMP).symlink_to(iis.outside / "precious")
    assert run_main(iis, monkeypatch, folder) == 1
    assert "refusing %s: it is a symbolic link" % (folder / STAMP) \
        in caplog.text
    assert (folder / STAMP).is_symlink()
    assert (iis.outside / "precious").read_text() == "keep me"
    # -i does not need the stamp: it is left alone, the install goes on.
    assert run_main(iis, monkeypatch, folder, "-i") == 0
    assert "leaving %s alone" % (folder / STAMP) in caplog.text


def test_the_log_is_never_written_through_a_link(iis, monkeypatch, caplog):
    folder = iis.sites / "A"
    stamp(folder)
    (folder / LOG_NAME).symlink_to(iis.outside / "precious")
    assert run_main(iis, monkeypatch, folder) == 1
    assert "refusing to log to" in caplog.text
    assert (iis.outside / "precious").read_text() == "keep me"
    assert (folder / STAMP).exists()        # nothing was done
    (folder / LOG_NAME).unlink()
    assert run_main(iis, monkeypatch, folder) == 0
    assert not (folder / STAMP).exists()
    assert "running" in (folder / LOG_NAME).read_text()
