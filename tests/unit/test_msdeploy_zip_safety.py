"""Zip slip, both ways: the package writer packs nothing from outside the
project, and the extractor writes nothing outside its target."""

import os
import stat
import zipfile

import pytest

from iiswsgi.msdeploy import PackageError
from iiswsgi.msdeploy.package import (
    check_member, check_name, extract_package, write_package)


@pytest.fixture
def project(tmp_path):
    """A project folder with one file, and a secret outside it."""
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "app.py").write_text("app = None\n")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key.txt").write_text("do not pack me")
    return root


def pack(project, files):
    target = project.parent / "dist" / "p.zip"
    return write_package(str(target), files, root=str(project)), target


@pytest.mark.parametrize("name", [
    "App/.../x", "App/. ./x", "App/.. /x", "App/x:stream", "App/con\x00",
    "App/a\tb", "\\\\server\\share\\x", "App\\..\\..\\x", "//x"])
def test_more_unsafe_entry_names(name):
    with pytest.raises(PackageError, match="refusing the package entry"):
        check_name(name)


@pytest.mark.parametrize("link_to, where", [
    ("secret/key.txt", "pkg/key.txt"),         # a linked file
    ("secret", "pkg/linked"),                  # a linked folder
])
def test_links_pointing_outside_are_refused(project, link_to, where):
    link = project / where
    link.symlink_to(project.parent / link_to)
    source = where if link_to.endswith(".txt") else where + "/key.txt"
    cwd = os.getcwd()
    os.chdir(project)
    try:
        with pytest.raises(PackageError, match="symbolic link pointing"
                           " outside the project folder"):
            pack(project, {"App/x": source})
    finally:
        os.chdir(cwd)
    assert not (project.parent / "dist" / "p.zip").exists()


def test_a_link_inside_the_project_is_packed_as_a_file(project):
    (project / "pkg" / "alias.py").symlink_to(project / "pkg" / "app.py")
    names, target = pack(project, {
        "App/pkg/alias.py": str(project / "pkg" / "alias.py")})
    with zipfile.ZipFile(target) as archive:
        assert archive.read("App/pkg/alias.py") == b"app = None\n"
        info = archive.getinfo("App/pkg/alias.py")
    assert not stat.S_ISLNK(info.external_attr >> 16)


def test_relative_sources_do_not_climb(project):
    cwd = os.getcwd()
    os.chdir(project)
    try:
        with pytest.raises(PackageError, match="outside the project folder"):
            pack(project, {"App/key.txt": "../secret/key.txt"})
    finally:
        os.chdir(cwd)


def test_an_absolute_source_elsewhere_must_not_be_a_link(project, tmp_path):
    built = tmp_path / "build"
    built.mkdir()
    (built / "Manifest.xml").write_text("<m/>")
    (built / "linked.xml").symlink_to(tmp_path / "secret" / "key.txt")
    pack(project, {"Manifest.xml": str(built / "Manifest.xml")})
    with pytest.raises(PackageError, match="is a symbolic link"):
        pack(project, {"Manifest.xml": str(built / "linked.xml")})


# -- extraction -------------------------------------------------------------

def evil_zip(path, name, data=b"owned", link=False):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("App/ok.txt", b"fine")
        info = zipfile.ZipInfo(name)
        if link:
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, data)
    return path


@pytest.mark.parametrize("name", [
    "../evil.txt", "App/../../evil.txt", "/tmp/evil.txt", "C:/evil.txt",
    "C:\\evil.txt", "App\\..\\..\\evil.txt", "App/..\\..\\evil.txt",
    "\\\\server\\share\\evil.txt", "App/.../evil.txt", "App/.. /evil.txt",
    "App/evil.txt:ads", "App/\x1bevil.txt"])
def test_extraction_refuses_escaping_members(tmp_path, name):
    archive = evil_zip(tmp_path / "evil.zip", name)
    target = tmp_path / "site" / "App"
    with pytest.raises(PackageError, match="refusing the zip member"):
        extract_package(str(archive), str(target), "App/")
    # Refused before anything was written, anywhere.
    assert not (tmp_path / "site").exists()
    assert sorted(os.listdir(tmp_path)) == ["evil.zip"]


def test_extraction_refuses_link_members(tmp_path):
    archive = evil_zip(tmp_path / "evil.zip", "App/link", b"/etc/passwd",
                       link=True)
    with pytest.raises(PackageError, match="symbolic link"):
        extract_package(str(archive), str(tmp_path / "site"), "App/")


def test_extraction_never_writes_through_a_link_in_the_target(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "site"
    target.mkdir()
    (target / "sub").symlink_to(outside)
    (target / "file.txt").symlink_to(outside / "file.txt")
    for member in ("App/sub/x.txt", "App/file.txt"):
        archive = evil_zip(tmp_path / "z.zip", member)
        with pytest.raises(PackageError, match="symbolic link"):
            extract_package(str(archive), str(target), "App/")
    assert os.listdir(outside) == []


def test_extraction_of_a_written_package(project, tmp_path):
    _, target = pack(project, {
        "Manifest.xml": str(project / "pkg" / "app.py"),
        "App/pkg/app.py": str(project / "pkg" / "app.py")})
    written = extract_package(str(target), str(tmp_path / "site"), "App/")
    assert written == [str(tmp_path / "site" / "pkg" / "app.py")]
    assert (tmp_path / "site" / "pkg" / "app.py").read_text() == \
        "app = None\n"
    assert check_member("App/pkg/app.py") == ["App", "pkg", "app.py"]


def test_extraction_replaces_a_hard_link_instead_of_writing_through_it(
        tmp_path):
    """A site owner's hard link, in the target, to a file elsewhere: the
    member replaces the link; the other file keeps its content."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    target = tmp_path / "site"
    target.mkdir()
    os.link(outside / "precious", target / "ok.txt")
    archive = evil_zip(tmp_path / "z.zip", "App/other.txt")
    extract_package(str(archive), str(target), "App/")
    assert (outside / "precious").read_text() == "keep me"
    assert (target / "ok.txt").read_bytes() == b"fine"
    assert os.stat(target / "ok.txt").st_nlink == 1


@pytest.mark.parametrize("name", [
    "App/web.config.", "App/web.config ", "App/folder./x.txt",
    "App/sub /x.txt", "App/CON", "App/con.txt", "App/Nul.tar.gz",
    "App/sub/PRN", "App/aux.py", "App/COM1.log", "App/lpt9", "App/com\u00b9",
    "App/a<b", "App/what?", "App/star*", "App/pipe|x", 'App/q"t'])
def test_extraction_refuses_names_windows_changes(tmp_path, name):
    archive = evil_zip(tmp_path / "evil.zip", name)
    with pytest.raises(PackageError, match="refusing the zip member"):
        extract_package(str(archive), str(tmp_path / "site"), "App/")
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("name", ["App/OK.txt", "App/Ok.TXT/x", "app/y"])
def test_extraction_refuses_names_differing_only_in_case(tmp_path, name):
    archive = evil_zip(tmp_path / "evil.zip", name)
    with pytest.raises(PackageError, match="differs only in case"):
        extract_package(str(archive), str(tmp_path / "site"), "App/")
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("name", ["App/console.txt", "App/nullable",
                                  "App/com10", "App/lpt.txt",
                                  "App/con-fig.ini", "App/.well-known/x"])
def test_extraction_keeps_names_that_only_look_special(tmp_path, name):
    archive = evil_zip(tmp_path / "z.zip", name)
    written = extract_package(str(archive), str(tmp_path / "site"), "App/")
    assert str(tmp_path / "site" / name[4:]) in written


def bomb(path, size, name="App/zeros.bin"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("App/ok.txt", b"fine")
        with archive.open(name, "w", force_zip64=True) as stream:
            block = b"\0" * (1 << 20)
            for _ in range(size >> 20):
                stream.write(block)
    return path


def test_extraction_refuses_a_zip_bomb_by_ratio(tmp_path):
    archive = bomb(tmp_path / "bomb.zip", 300 << 20)
    assert os.path.getsize(archive) < 400 << 10     # ~300 KiB
    with pytest.raises(PackageError, match="more than 200:1"):
        extract_package(str(archive), str(tmp_path / "site"), "App/")
    assert not (tmp_path / "site").exists()


def test_extraction_caps_the_total_size(tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
        for index in range(3):
            zipped.writestr("App/part%d" % index, os.urandom(1 << 20))
    with pytest.raises(PackageError, match="would total more than"):
        extract_package(str(archive), str(tmp_path / "site"), "App/",
                        max_size=(2 << 20) + 10)
    assert not (tmp_path / "site").exists()
    written = extract_package(str(archive), str(tmp_path / "site"), "App/",
                              max_size=3 << 20)
    assert len(written) == 3
    # The default: 2 GiB, 200:1.
    from iiswsgi.msdeploy.package import MAX_EXTRACT_SIZE, MAX_RATIO
    assert (MAX_EXTRACT_SIZE, MAX_RATIO) == (2 << 30, 200)


def test_every_file_of_a_linked_folder_is_refused(project, monkeypatch):
    """The link check is made once per folder: each file of a folder
    linked outside, after a good folder's files, is refused, and one
    given by its absolute path too."""
    (project.parent / "secret" / "more.txt").write_text("more")
    (project / "pkg" / "linked").symlink_to(project.parent / "secret")
    monkeypatch.chdir(project)
    for source in ("pkg/linked/key.txt", "pkg/linked/more.txt",
                   str(project / "pkg" / "linked" / "more.txt")):
        with pytest.raises(PackageError, match="symbolic link pointing"):
            pack(project, {"App/pkg/app.py": "pkg/app.py",
                           "App/pkg/x": source})
    names, _ = pack(project, {"App/pkg/app.py": "pkg/app.py"})
    assert "App/pkg/app.py" in names
