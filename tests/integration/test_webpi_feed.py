"""bdist_webpi and clean_webpi as real ``setup.py`` runs on copies of the
examples: every feed written is checked with the structural validator."""

import hashlib
import importlib.metadata
import math
import os
import re
import shutil
import sys

import pytest

from iiswsgi import webpi
from tests.integration.test_msdeploy_commands import setup_py
from tests.integration.webpi_support import build_examples, copy_examples
from tests.support.apphost import write_apphost_config, write_fake_appcmd

BOTH = ("-m", ". ../pyramid.msdeploy")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_examples(tmp_path_factory.mktemp("examples"))


def feed_of(project, result):
    assert result.returncode == 0, result.stdout
    assert "Traceback" not in result.stdout
    (path,) = [name for name in os.listdir(project / "dist")
               if name.endswith(".webpi.xml")]
    data = (project / "dist" / path).read_bytes()
    root = webpi.check_feed(data, path)      # the validator, on every feed
    return path, {e.findtext("productId"): e for e in root.findall("entry")}


def test_feed_of_both_examples(built, monkeypatch):
    project, zips = built
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    result = setup_py(project, "bdist_webpi", *BOTH)
    path, entries = feed_of(project, result)
    assert path == "WSGISampleIISApp-0.2.webpi.xml"
    feed_url = webpi.file_url(str(project / "dist" / path))
    assert "add this feed in WebPI (Options, Custom Feeds): %s" % feed_url \
        in result.stdout
    for name, package in zips.items():
        entry = entries[name]
        assert entry.get("type") == "application"
        download = entry.find("installers/installer/installerFile")
        data = package.read_bytes()
        assert download.findtext("sha1") == \
            hashlib.sha1(data).hexdigest().upper()
        assert download.findtext("fileSize") == str(math.ceil(len(data)
                                                              / 1024))
        assert download.findtext("installerURL") == \
            "https://example.org/iiswsgi/dist/" + package.name
        assert entry.findtext("updated") == "2023-11-14T22:13:20Z"
        assert [d.text for d in entry.find("dependency").iter(
            "productId")] == ["WDeploy", "Python%d%d" % sys.version_info[:2],
                              "iiswsgi"]
        assert entry.findtext("installers/installer/eulaURL") == \
            "https://opensource.org/licenses/MIT"
    sample = entries["WSGISampleIISApp"]
    assert sample.findtext("title") == "IIS WSGI Sample App"
    assert sample.findtext("author/uri") == "https://example.org/iiswsgi"
    assert sample.findtext("installers/installer/helpLink") == \
        "https://example.org/iiswsgi/issues"
    assert sample.findtext("images/icon").endswith("python-powered-h-50x65"
                                                   ".png")
    # The webpi_eggs extra: iiswsgi, installed by pip.
    egg = entries["iiswsgi"]
    version = importlib.metadata.version("iiswsgi")
    assert egg.findtext("version") == version
    assert egg.get("type") is None
    assert ('"iiswsgi==%s"' % version) in egg.findtext(
        "installers/installer/installCommands/cmdline/commandLineArguments")
    assert egg.findtext("discoveryHint/file/filePath").endswith(
        "iiswsgi-%s.dist-info\\METADATA" % version)


def test_url_option_overrides_the_keyword(built):
    project, zips = built
    result = setup_py(project, "bdist_webpi", *BOTH, "-u",
                      "{msdeploy_package_url}")
    _, entries = feed_of(project, result)
    for name, package in zips.items():
        url = entries[name].findtext(
            "installers/installer/installerFile/installerURL")
        assert url == webpi.file_url(str(package))
    result = setup_py(project, "bdist_webpi", "-u",
                      "https://h/{py_version_short}/{letter}/{name}/"
                      "{version}/{msdeploy_file}")
    _, entries = feed_of(project, result)
    assert entries["WSGISampleIISApp"].findtext(
        "installers/installer/installerFile/installerURL") == \
        "https://h/%d.%d/W/WSGISampleIISApp/0.2/%s" % (
            sys.version_info[:2] + (zips["WSGISampleIISApp"].name,))


def test_template_keeps_its_own_entries(built):
    project, zips = built
    result = setup_py(project, "bdist_webpi", *BOTH, "-t", "../web-pi.xml")
    _, entries = feed_of(project, result)
    assert set(entries) == {"WSGISampleIISApp", "PyramidIISApp", "iiswsgi",
                            "Python311"}
    sample = entries["WSGISampleIISApp"]
    assert sample.findtext("installers/installer/installerFile/sha1") == \
        hashlib.sha1(zips["WSGISampleIISApp"].read_bytes()).hexdigest(
        ).upper()


def test_seed_workflow_in_one_command(tmp_path):
    """``bdist_msdeploy bdist_webpi`` together, no -m: the project
    itself."""
    project = copy_examples(tmp_path) / "sample.msdeploy"
    result = setup_py(project, "install_msdeploy", "--install-method=none",
                      "-S", "bdist_msdeploy", "--skip-install",
                      "bdist_webpi")
    _, entries = feed_of(project, result)
    assert set(entries) == {"WSGISampleIISApp", "iiswsgi"}


def test_dependency_and_related_keywords(built, tmp_path):
    project, _ = built
    shutil.copytree(project.parent, tmp_path / "c")
    project = tmp_path / "c" / "sample.msdeploy"
    text = (project / "setup.py").read_text().replace(
        "    py_modules=[],", "    py_modules=[], install_msdeploy=["
        "'virtualenv>=20', 'iiswsgi'], install_webpi=['PyramidIISApp'],"
        " discovery_file='%SystemDrive%\\\\App\\\\x.txt',"
        " published='2012-10-28',")
    (project / "setup.py").write_text(text)
    _, entries = feed_of(project, setup_py(project, "bdist_webpi"))
    sample = entries["WSGISampleIISApp"]
    assert [d.text for d in sample.find("dependency").iter("productId")] \
        == ["WDeploy", "Python%d%d" % sys.version_info[:2], "iiswsgi",
            "virtualenv"]
    assert sample.findtext("related/relatedProduct/productId") == \
        "PyramidIISApp"
    assert sample.findtext("discoveryHint/file/filePath") == \
        "%SystemDrive%\\App\\x.txt"
    assert sample.findtext("published") == "2012-10-28T00:00:00Z"


@pytest.mark.parametrize("change, args, message", [
    (None, ("-m", "../nowhere"), "../nowhere has no setup.py: "
     "--msdeploy-bdists (-m) names the folders of MSDeploy dists"),
    ("unbuilt", BOTH, "PyramidIISApp: no ../pyramid.msdeploy/dist/"
     "PyramidIISApp-0.3-py"),
    ("plain", BOTH, "(PyramidIISApp) is not an MSDeploy dist: it has no"
     " Manifest.xml.in"),
    (None, ("-u", "https://h/{filename}"), "the msdeploy URL template"
     " 'https://h/{filename}' uses {filename}; the placeholders are {name},"
     " {version}, {msdeploy_file}, {letter}, {py_version_short},"
     " {msdeploy_package_url}"),
    ('published="yesterday"', (), "setup() keyword published of"
     " WSGISampleIISApp must be an ISO 8601 date"),
    ('install_webpi="Other"', (), "setup() keyword install_webpi must be a"
     " list of strings, not 'Other'"),
    ('install_msdeploy=[1]', (), "setup() keyword install_msdeploy must be"
     " a list of strings, not [1]"),
    ('extras_require={"webpi_eggs": ["not-installed-anywhere"]}', (),
     "not-installed-anywhere (from extras_require['webpi_eggs']) is not"
     " installed in this Python"),
])
def test_errors(built, tmp_path, change, args, message):
    project, zips = built
    if change is not None:
        shutil.copytree(project.parent, tmp_path / "c", ignore=lambda d, n: [
            x for x in n if change == "unbuilt" and x == "dist"
            and "pyramid" in d])
        project = tmp_path / "c" / "sample.msdeploy"
        if change == "plain":
            os.unlink(project.parent / "pyramid.msdeploy" / "Manifest.xml.in")
        elif change != "unbuilt":
            text = (project / "setup.py").read_text()
            text = re.sub(r"\n    extras_require=.*\n", "\n", text)
            (project / "setup.py").write_text(text.replace(
                "    py_modules=[],", "    py_modules=[], %s," % change))
    before = set(os.listdir(project / "dist"))
    result = setup_py(project, "bdist_webpi", *(args or BOTH))
    assert result.returncode != 0
    assert message in result.stdout, result.stdout
    assert "Traceback" not in result.stdout
    assert set(os.listdir(project / "dist")) == before


def make_cache(root, feed_id):
    for product in ("WSGISampleIISApp", "pyramidiisapp", "Other"):
        folder = root / "installers" / product / "0f9e8d"
        folder.mkdir(parents=True)
        (folder / "package.zip").write_bytes(b"old")
    (root / "1a2b3c.xml").write_text(
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>x</title><id>%s</id></feed>" % feed_id)
    (root / "4d5e6f.xml").write_text("<feed><id>urn:another</id></feed>")
    return root


def test_clean_webpi(built, tmp_path, monkeypatch):
    project, _ = built
    local = tmp_path / "AppData" / "Local"
    cache = make_cache(local / "Microsoft" / "Web Platform Installer",
                       "https://example.org/iiswsgi/examples/sample.msdeploy")
    sites = tmp_path / "sites"
    for name in ("WSGISampleIISApp", "PyramidIISApp2", "Unrelated"):
        (sites / name).mkdir(parents=True)
        (sites / name / "iis_install.stamp").write_text("#")
    config = write_apphost_config(tmp_path / "applicationHost.config", sites=(
        ("Default Web Site", 1, [
            ("/", "DefaultAppPool", str(sites / "Unrelated")),
            ("/WSGISampleIISApp", "DefaultAppPool",
             str(sites / "WSGISampleIISApp")),
            ("/PyramidIISApp2", "DefaultAppPool",
             str(sites / "PyramidIISApp2"))]),))
    appcmd = write_fake_appcmd(tmp_path / "bin")
    monkeypatch.setenv("LOCALAPPDATA", str(local))
    monkeypatch.setenv("IISWSGI_FAKE_APPHOST", config)
    monkeypatch.setenv("IISWSGI_APPCMD", appcmd)

    def clean(*args):
        result = setup_py(project, "clean_webpi", *BOTH, *args)
        assert result.returncode == 0, result.stdout
        return result.stdout

    output = clean("--dry-run")
    for path in (cache / "installers" / "WSGISampleIISApp",
                 cache / "installers" / "pyramidiisapp",
                 cache / "1a2b3c.xml",
                 sites / "WSGISampleIISApp" / "iis_install.stamp",
                 sites / "PyramidIISApp2" / "iis_install.stamp"):
        assert "would remove %s" % path in output or \
            "would remove the stale install stamp %s" % path in output
        assert path.exists()
    output = clean()
    assert sorted(os.listdir(cache / "installers")) == ["Other"]
    assert sorted(os.listdir(cache)) == ["4d5e6f.xml", "installers"]
    assert [p.name for p in sites.glob("*/iis_install.stamp")] == [
        "iis_install.stamp"]
    assert (sites / "Unrelated" / "iis_install.stamp").exists()
    assert "removed %s" % (cache / "1a2b3c.xml") in output
    # Again: nothing left, and it says so.
    output = clean()
    assert "nothing of these dists is cached in %s" % cache in output
    assert "no stale iis_install.stamp" in output


def test_clean_webpi_without_a_cache(built, tmp_path, monkeypatch):
    project, _ = built
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    result = setup_py(project, "clean_webpi", *BOTH, "--appcmd",
                      str(tmp_path / "appcmd.exe"))
    assert result.returncode == 0, result.stdout
    assert "no WebPI cache at %s" % os.path.join(
        str(tmp_path), "Microsoft", "Web Platform Installer") in result.stdout
    assert "stale install stamps not looked for: appcmd not found" in \
        result.stdout



@pytest.mark.skipif(os.name == "nt", reason="needs POSIX links")
def test_clean_webpi_does_not_follow_a_linked_stamp(built, tmp_path,
                                                    monkeypatch):
    """A stamp that is a link to a file outside the site is not taken for
    a stale one: clean_webpi says it ignores it and leaves the link and
    the file alone (the rule iiswsgi_install follows)."""
    project, _ = built
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    sites = tmp_path / "sites"
    (sites / "WSGISampleIISApp").mkdir(parents=True)
    (sites / "PyramidIISApp").mkdir()
    linked = sites / "WSGISampleIISApp" / "iis_install.stamp"
    linked.symlink_to(outside / "precious")
    hard = sites / "PyramidIISApp" / "iis_install.stamp"
    os.link(outside / "precious", hard)
    config = write_apphost_config(tmp_path / "applicationHost.config", sites=(
        ("Default Web Site", 1, [
            ("/WSGISampleIISApp", "DefaultAppPool",
             str(sites / "WSGISampleIISApp")),
            ("/PyramidIISApp", "DefaultAppPool",
             str(sites / "PyramidIISApp"))]),))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "no-cache"))
    monkeypatch.setenv("IISWSGI_FAKE_APPHOST", config)
    monkeypatch.setenv("IISWSGI_APPCMD", write_fake_appcmd(tmp_path / "bin"))
    result = setup_py(project, "clean_webpi", *BOTH)
    assert result.returncode == 0, result.stdout
    assert "stale install stamp" not in result.stdout.replace(
        "no stale iis_install.stamp", "")
    assert "ignoring %s: it is a symbolic link" % linked in result.stdout
    assert "ignoring %s: it is a hard link" % hard in result.stdout
    assert "no stale iis_install.stamp in the IIS folders of" \
        in result.stdout
    assert linked.is_symlink() and hard.exists()
    assert (outside / "precious").read_text() == "keep me"
