"""iiswsgi.files.write_atomically, and the package writers that use it, on
real files: planted links, failures half-way, two writers at once."""

import os
import stat

import pytest

from iiswsgi import files
from iiswsgi.files import write_atomically
from iiswsgi.msdeploy.manifest import build_manifest
from iiswsgi.msdeploy.parameters import (Entry, Parameter,
                                         write_parameters)
from iiswsgi.msdeploy.webconfig import write_web_config

needs_links = pytest.mark.skipif(not hasattr(os, "symlink") or os.name ==
                                 "nt", reason="needs POSIX symbolic links")


def leftovers(folder, *keep):
    """The files in ``folder`` other than ``keep``."""
    return sorted(set(os.listdir(folder)) - set(keep))


def test_bytes_text_and_writer(tmp_path):
    target = str(tmp_path / "x")
    assert write_atomically(target, b"one\r\n") == target
    assert (tmp_path / "x").read_bytes() == b"one\r\n"
    write_atomically(target, "d\u00e9j\u00e0\n")
    assert (tmp_path / "x").read_bytes() == "d\u00e9j\u00e0\n".encode()
    write_atomically(target, lambda stream: stream.write(b"three"))
    assert (tmp_path / "x").read_bytes() == b"three"
    assert leftovers(tmp_path) == ["x"]


@needs_links
def test_a_planted_tmp_link_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    os.symlink(victim, tmp_path / "x.tmp")
    write_atomically(str(tmp_path / "x"), b"new")
    assert (tmp_path / "x").read_bytes() == b"new"
    assert victim.read_text() == "keep me"
    assert os.readlink(tmp_path / "x.tmp") == str(victim)


@needs_links
def test_a_link_under_the_chosen_name_is_not_opened(tmp_path, monkeypatch):
    """Even when the random part collides with a link planted there, the
    link is neither opened nor followed: another name is taken."""
    names = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(names))
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    planted = tmp_path / ".x.aaaa.tmp"
    os.symlink(victim, planted)
    write_atomically(str(tmp_path / "x"), b"new")
    assert (tmp_path / "x").read_bytes() == b"new"
    assert victim.read_text() == "keep me"
    assert os.path.islink(planted)
    assert leftovers(tmp_path) == [".x.aaaa.tmp", "victim", "x"]


def test_a_failure_mid_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "feed.xml"
    target.write_bytes(b"old")

    def half(stream):
        stream.write(b"half of the new")
        raise RuntimeError("the disk is full")
    with pytest.raises(RuntimeError, match="the disk is full"):
        write_atomically(str(target), half)
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == ["feed.xml"]


def test_a_refused_rename_leaves_no_temporary(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(OSError):
        write_atomically(str(tmp_path / "folder"), b"x")
    assert leftovers(tmp_path) == ["folder"]
    assert os.listdir(tmp_path / "folder") == []


def test_two_writers_do_not_share_a_temporary(tmp_path):
    """A second writer of the same file, starting and finishing while the
    first is half-way, uses a temporary of its own: both succeed, the last
    to finish wins, and nothing is left behind."""
    target = str(tmp_path / "Manifest.xml")
    seen = {}

    def first(stream):
        stream.write(b"first, part one; ")
        seen["during"] = leftovers(tmp_path)
        write_atomically(target, b"second")
        seen["second"] = open(target, "rb").read()
        stream.write(b"part two")
    write_atomically(target, first)
    assert seen["second"] == b"second"
    assert len(seen["during"]) == 1 and seen["during"][0].startswith(
        ".Manifest.xml.")
    assert open(target, "rb").read() == b"first, part one; part two"
    assert leftovers(tmp_path) == ["Manifest.xml"]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomically(str(tmp_path / "new"), b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o640
    kept = tmp_path / "kept"
    kept.write_bytes(b"x")
    os.chmod(kept, 0o604)
    write_atomically(str(kept), b"y")
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o604


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomically(str(tmp_path / "no" / "x"), b"x")


# -- the writers of the package files ---------------------------------------

def _parameters(path):
    write_parameters([Parameter("Application Path", tags=["iisApp"],
                                entries=[Entry("ProviderPath", "iisApp",
                                               "App")])], path)


def _manifest(path):
    template = path + ".in"
    with open(template, "w") as stream:
        stream.write('<MSDeploy.iisApp><iisApp path="App"/>'
                     '</MSDeploy.iisApp>')
    build_manifest(template, path, {})


def _web_config(path):
    template = path + ".in"
    with open(template, "w") as stream:
        stream.write("<configuration/>")
    write_web_config(template, path, {})


@needs_links
@pytest.mark.parametrize("name, write", [
    ("Parameters.xml", _parameters), ("Manifest.xml", _manifest),
    ("web.config", _web_config)])
def test_package_writers_do_not_follow_a_planted_tmp_link(tmp_path, name,
                                                          write):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    os.symlink(victim, tmp_path / (name + ".tmp"))
    write(str(tmp_path / name))
    assert victim.read_text() == "keep me"
    assert os.path.islink(tmp_path / (name + ".tmp"))
    assert (tmp_path / name).read_text().lstrip().startswith("<")
    assert not [n for n in os.listdir(tmp_path) if n.startswith(
        "." + name)]
