"""Templates, Manifest.xml conversion, Parameters.xml checks and the zip."""

import os
import zipfile

import pytest

from iiswsgi.errors import IISWSGIError
from iiswsgi.msdeploy import PackageError, decode_provider_options
from iiswsgi.msdeploy.manifest import build_manifest, read_manifest, \
    convert_manifest
from iiswsgi.msdeploy.package import check_name, write_package
from iiswsgi.msdeploy.parameters import read_parameters
from iiswsgi.msdeploy.template import substitute, xml_escape


@pytest.mark.parametrize("text, expected", [
    ("$NAME ${NAME}x %NAME%", "App App}x App".replace("}", "")),
    ("%%NAME%% 100%% $$NAME", "%NAME% 100% $NAME"),
    ("%name% $Name", "App App"),
    ("%SystemDrive%\\Py $UNKNOWN ${UNKNOWN}", "%SystemDrive%\\Py $UNKNOWN"
     " ${UNKNOWN}"),
    ("%A%%B%", "12"),
    ("50% off, 20% more", "50% off, 20% more"),
])
def test_substitute(text, expected):
    variables = {"NAME": "App", "A": "1", "B": "2"}
    assert substitute(text, variables) == expected


def test_substitute_escapes():
    assert substitute('a="%V%"', {"V": '<&"\'>'}, xml_escape) == \
        'a="&lt;&amp;&quot;&apos;&gt;"'


def test_manifest_conversion():
    manifest = convert_manifest(read_manifest(
        '<MSDeploy.iisApp><iisApp path="App"/>'
        '<runCommand path="C:\\x.exe -v" waitAttempts="10"'
        ' successReturnCodes="0x0" MSDeploy.MSDeployLinkName="Child1"/>'
        '</MSDeploy.iisApp>'))
    (_, run) = list(manifest.root)
    assert set(run.attrib) == {
        "path", "MSDeploy.MSDeployLinkName",
        "MSDeploy.MSDeployKeyAttributeName",
        "MSDeploy.MSDeployProviderOptions"}
    assert run.get("MSDeploy.MSDeployKeyAttributeName") == "path"
    assert decode_provider_options(
        run.get("MSDeploy.MSDeployProviderOptions")) == (
        "runCommand", "C:\\x.exe -v",
        [("waitAttempts", "10"), ("successReturnCodes", "0x0")])
    assert manifest.iis_app_paths == ["App"]


def test_manifest_errors(tmp_path):
    with pytest.raises(PackageError, match="Manifest.xml.in not found"):
        build_manifest(str(tmp_path / "Manifest.xml.in"),
                       str(tmp_path / "Manifest.xml"), {})
    (tmp_path / "Manifest.xml.in").write_text("<m><iisApp path='x'></m>")
    with pytest.raises(PackageError, match="not well-formed.*line 1"):
        build_manifest(str(tmp_path / "Manifest.xml.in"),
                       str(tmp_path / "Manifest.xml"), {})
    (tmp_path / "Manifest.xml.in").write_text(
        "<m><runCommand path='a'/><runCommand waitAttempts='1'/></m>")
    with pytest.raises(PackageError,
                       match="the 2nd <runCommand> has no path"):
        build_manifest(str(tmp_path / "Manifest.xml.in"),
                       str(tmp_path / "Manifest.xml"), {})
    assert not (tmp_path / "Manifest.xml").exists()


PARAMETER = """<parameter name="%s" tags="%s">
  <parameterEntry kind="%s" scope="iisApp" match="%s"/></parameter>"""


def parameters(tmp_path, *items):
    path = tmp_path / "Parameters.xml"
    path.write_text("<parameters>%s</parameters>" % "".join(
        PARAMETER % item for item in items))
    return str(path)


def test_parameters_ok(tmp_path):
    result = read_parameters(parameters(
        tmp_path, ("App Path", "Hidden, IISAPP", "ProviderPath", "^a$"),
        ("x", "", "TextFile", "__x__")))
    assert result.application_path.name == "App Path"
    assert result["X"].entries[0].match == "__x__"


@pytest.mark.parametrize("items, message", [
    ([("A", "iisapp", "ProviderPath", "a"), ("a", "", "TextFile", "b")],
     "parameter 'a': the name is used twice"),
    ([("A", "hidden", "ProviderPath", "a")], "no parameter is tagged iisApp"),
    ([("A", "iisapp", "Bogus", "a")], "parameter 'A': unknown parameterEntry"
     " kind 'Bogus'"),
    ([("A", "iisapp", "TextFile", "(")], "parameter 'A': the TextFile"
     " entry's match '(' is not a valid regular expression"),
])
def test_parameters_problems(tmp_path, items, message):
    with pytest.raises(PackageError) as error:
        read_parameters(parameters(tmp_path, *items))
    assert str(tmp_path / "Parameters.xml") in str(error.value)
    assert message in str(error.value)


def test_parameters_malformed(tmp_path):
    (tmp_path / "Parameters.xml").write_text("<parameters>")
    with pytest.raises(PackageError, match="not well-formed"):
        read_parameters(str(tmp_path / "Parameters.xml"))


def files(tmp_path):
    (tmp_path / "a").mkdir(exist_ok=True)
    (tmp_path / "a" / "x.txt").write_text("x")
    (tmp_path / "b.txt").write_text("b")
    return {"App/a/x.txt": str(tmp_path / "a" / "x.txt"),
            "Manifest.xml": str(tmp_path / "b.txt"),
            "App/b.txt": str(tmp_path / "b.txt")}


def test_zip_deterministic(tmp_path):
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    write_package(str(first), files(tmp_path))
    os.utime(tmp_path / "b.txt", (1e9, 1e9))
    write_package(str(second), dict(reversed(list(files(tmp_path).items()))))
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == [
        "App/", "App/a/", "App/a/x.txt", "App/b.txt", "Manifest.xml"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert [i.external_attr for i in infos] == [0x10, 0x10, 0x20, 0x20, 0x20]
    assert {i.create_system for i in infos} == {0}


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "App/../../x",
                                  "C:\\x", "App\\..\\..\\x", ""])
def test_zip_refuses_unsafe_names(tmp_path, name):
    with pytest.raises(PackageError, match="refusing"):
        check_name(name)
    target = tmp_path / "dist" / "p.zip"
    with pytest.raises(PackageError):
        write_package(str(target), {name: str(tmp_path)})
    assert not target.parent.exists() or not os.listdir(target.parent)


def test_zip_names_use_slashes():
    assert check_name("App\\sub\\x.py") == "App/sub/x.py"
    assert check_name("./App//x") == "App/x"


def test_package_error_is_an_iiswsgi_error(tmp_path):
    with pytest.raises(IISWSGIError, match="Parameters.xml not found"):
        read_parameters(str(tmp_path / "Parameters.xml"))


def test_zip_bytes_are_what_zipfile_writes(tmp_path):
    """The package's own zip writer gives, byte for byte, what zipfile
    writes for the same entries at zlib's default level (as ``python -m
    zipfile -c``): folders, a non-ASCII name, an empty file, a file of
    several deflate blocks."""
    from iiswsgi.msdeploy import package
    (tmp_path / "src" / "sub").mkdir(parents=True)
    sources = {
        "App/sub/m.py": b"x = 1\n" * 300,
        "App/caf\u00e9.txt": "caf\u00e9".encode("utf-8"),
        "App/empty.py": b"",
        "App/big.bin": os.urandom(300_000) + b"\0" * 200_000,
        "Manifest.xml": b"<MSDeploy.iisApp />",
    }
    files = {}
    for index, (name, data) in enumerate(sources.items()):
        path = tmp_path / "src" / ("f%d" % index)
        path.write_bytes(data)
        files[name] = str(path)
    target = tmp_path / "p.zip"
    write_package(str(target), files, str(tmp_path))
    expected = tmp_path / "zipfile.zip"
    with zipfile.ZipFile(expected, "w") as archive:
        for name in ("App/", "App/big.bin", "App/caf\u00e9.txt",
                     "App/empty.py", "App/sub/", "App/sub/m.py",
                     "Manifest.xml"):
            directory = name.endswith("/")
            archive.writestr(package._info(name.rstrip("/"), directory),
                             b"" if directory else sources[name])
    assert target.read_bytes() == expected.read_bytes()
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        assert archive.read("App/big.bin") == sources["App/big.bin"]


def test_zip64_sized_packages_are_written_by_zipfile(tmp_path, monkeypatch):
    """Past 65,535 entries or near 4 GiB a zip needs Zip64 records: such
    packages are written by zipfile (here the limit is lowered to 0)."""
    from iiswsgi.msdeploy import package
    small = tmp_path / "small.zip"
    write_package(str(small), files(tmp_path))
    monkeypatch.setattr(package, "_MAX_ENTRIES", 0)
    large = tmp_path / "large.zip"
    write_package(str(large), files(tmp_path))
    assert large.read_bytes() == small.read_bytes()


@pytest.mark.parametrize("name, expected", [
    ("App/sub/x.py", "App/sub/x.py"),
    ("App/.well-known/x", "App/.well-known/x"),
    ("App/ spaced/x", "App/ spaced/x"),
    ("App/./x", "App/x"),
    ("App/x/", "App/x"),
    (".config/x", ".config/x"),
])
def test_zip_names_kept_or_tidied(name, expected):
    assert check_name(name) == expected


@pytest.mark.parametrize("name", ["App/ . /x", "App/.. /x", "App/x\x01",
                                  "App/x:stream", "App/.../x"])
def test_zip_names_of_dots_and_spaces_or_controls_refused(name):
    with pytest.raises(PackageError, match="refusing"):
        check_name(name)


def test_the_zip_holds_what_the_build_token_hashed(tmp_path):
    """build_token keeps what it read; the zip packs that, not a second
    read: a file changed in between does not make the token lie."""
    import hashlib
    from iiswsgi.msdeploy.build import build_token
    given = files(tmp_path)
    kept = {}
    token = build_token(given, kept)
    assert sorted(kept) == sorted(given)
    (tmp_path / "a" / "x.txt").write_text("changed after the token")
    target = tmp_path / "p.zip"
    write_package(str(target), given, str(tmp_path), kept)
    with zipfile.ZipFile(target) as archive:
        assert archive.read("App/a/x.txt") == b"x"
        packed = {name: archive.read(name) for name in given}
    digest = hashlib.sha256()
    for name in sorted(packed):
        digest.update(name.encode() + b"\0" + str(len(packed[name])).encode()
                      + b"\0" + packed[name])
    assert digest.hexdigest() == token
