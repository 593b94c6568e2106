"""The WebPI feed model, writer and validator (iiswsgi.webpi), and the
cache cleaning, on real files in temporary folders."""

import hashlib
import os
import re
import xml.etree.ElementTree as ElementTree

import pytest

from iiswsgi import safexml, webpi
from iiswsgi.errors import IISWSGIError
from iiswsgi.iis.appcmd import Application, Site, VirtualDirectory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXAMPLE_FEED = os.path.join(ROOT, "examples", "web-pi.xml")
NASTY = 'Tom & Jerry\'s "<app>" ]]> & <&'


def make_feed(title="Example apps", summary="A demo WSGI application."):
    installer = webpi.Installer(
        installer_url="https://example.org/dl/App-1.0.zip", file_size=3,
        sha1="0123456789ABCDEF0123456789ABCDEF01234567", msdeploy=True,
        display_url="https://example.org/app", help_link="https://x.org/h",
        eula_url="https://example.org/license")
    app = webpi.Entry(
        product_id="ExampleApp", title=title, id="https://example.org/app",
        version="1.0", updated="2024-01-01T00:00:00Z",
        published="2024-01-01T00:00:00Z", summary=summary,
        long_summary=summary + "\nmore", link="https://example.org/app",
        author_name=title, author_uri="https://example.org/",
        icon="https://example.org/icon.png", keywords=["Python", "IIS"],
        dependencies=["WDeploy", "Python311", "iiswsgi"],
        related=["Other"], discovery_file="%SystemDrive%\\x\\y",
        application=True, installers=[installer])
    egg = webpi.Entry(
        product_id="iiswsgi", title="iiswsgi", id="urn:iiswsgi:webpi:iiswsgi",
        version="1.0", updated="2024-01-01T00:00:00Z",
        published="2024-01-01T00:00:00Z", dependencies=["Python311"],
        product_family="Python", installers=[webpi.Installer(
            command=("python.exe", "-m pip install iiswsgi==1.0"),
            log_files=["%TEMP%\\iiswsgi.log"])])
    return webpi.Feed(id="https://example.org/feed.xml", title=title,
                      updated="2024-01-01T00:00:00Z",
                      link="https://example.org/feed.xml",
                      author_name=title, entries=[app, egg])


def parse(feed):
    return safexml.parse(webpi.feed_bytes(webpi.feed_element(feed)))


def test_written_feed_is_valid(tmp_path):
    path = tmp_path / "feed.webpi.xml"
    data = webpi.write_feed(str(path), make_feed())
    assert path.read_bytes() == data
    root = webpi.check_feed(data)
    assert root.get("xmlns") == webpi.ATOM
    assert list(root)[0].tag == "webpiFile"
    (app,) = [e for e in root.findall("entry") if e.get("type")]
    assert app.findtext("installers/installer/installerFile/sha1") == \
        "0123456789ABCDEF0123456789ABCDEF01234567"
    assert app.find("installers/installer/msDeploy/startPage") is not None
    products = [d.text for d in app.iter("productId")]
    assert products[1:] == ["WDeploy", "Python311", "iiswsgi", "Other"]
    assert {k.get("id") for k in root.find("keywords")} == {"Python", "IIS"}
    egg = root.findall("entry")[1]
    assert egg.findtext("installers/installer/installCommands/cmdline/exe") \
        == "python.exe"
    assert webpi.feed_id_of(str(path)) == "https://example.org/feed.xml"


def test_special_characters_round_trip():
    """``"<&`` in a title or summary is escaped and reads back identical
    through safexml."""
    root = parse(make_feed(title=NASTY, summary=NASTY + "\x01"))
    assert webpi.validate_feed(root) == []
    assert root.findtext("title") == NASTY
    entry = root.find("entry")
    assert entry.findtext("title") == NASTY
    assert entry.findtext("summary") == NASTY        # \x01 dropped
    assert entry.findtext("author/name") == NASTY
    assert entry.findtext("longSummary") == NASTY + "\nmore"


def _drop(path):
    def change(root):
        parent_path, _, tag = path.rpartition("/")
        parent = root.find(parent_path) if parent_path else root
        parent.remove(parent.find(tag))
    return change


def _set(path, text):
    def change(root):
        root.find(path).text = text
    return change


def _first_last(root):
    root.remove(root.find("webpiFile"))
    ElementTree.SubElement(root, "webpiFile", version="4.0")


def _duplicate_product(root):
    root.findall("entry")[1].find("productId").text = "exampleapp"


def _rename_cmdline(root):
    root.find("entry[2]/installers/installer/installCommands/cmdline").tag = \
        "cmdLine"


@pytest.mark.parametrize("change, message", [
    (_drop("title"), "the feed has no <title>"),
    (_drop("id"), "the feed has no <id>"),
    (_set("updated", "yesterday"), "<updated> 'yesterday' is not an ISO"),
    (_first_last, "the first child of <feed> must be <webpiFile"),
    (_duplicate_product, "productId exampleapp is used by another entry"),
    (_set("entry/productId", "Example App"), "<productId> must be a product"),
    (_drop("entry/version"), "entry 1 (ExampleApp): no <version>"),
    (_set("entry/installers/installer/languageId", "de"),
     "languageId 'de' is not one of the feed's <languages> (en)"),
    (_set("entry/installers/installer/installerFile/sha1", "abc"),
     "<sha1> must be 40 hex digits, not 'abc'"),
    (_set("entry/installers/installer/installerFile/fileSize", "2.5"),
     "<fileSize> is a whole number of KiB, not '2.5'"),
    (_set("entry/installers/installer/installerFile/installerURL",
          "dl/App.zip"), "<installerURL> must be an absolute"),
    (_drop("entry/installers/installer/msDeploy"),
     "an application installer needs <msDeploy>"),
    (_set("entry/installers/installer/id", "one"),
     "<installer> needs an integer <id>"),
    (_set("entry/keywords/keywordId", "Nope"),
     "keywordId 'Nope' is not declared"),
    (_set("entry/dependency/and/dependency/productId", "W Deploy"),
     "dependency productId 'W Deploy' is not a product id"),
    (_rename_cmdline, "(WebPI spells it cmdline)"),
    (_drop("entry[2]/installers/installer/installCommands"),
     "neither <installerFile> nor <installCommands>"),
])
def test_validator_finds(change, message):
    root = parse(make_feed())
    change(root)
    problems = webpi.validate_feed(root)
    assert any(message in problem for problem in problems), problems
    with pytest.raises(webpi.FeedError, match="is not a valid WebPI feed"):
        webpi.check_feed(ElementTree.tostring(root), "x.xml")


def test_validator_refuses_doctype_and_other_roots():
    with pytest.raises(webpi.FeedError, match="DOCTYPE"):
        webpi.check_feed(b'<!DOCTYPE feed [<!ENTITY a "b">]><feed/>')
    assert webpi.validate_feed(safexml.parse("<rss/>")) == [
        "the root element is <rss>, not <feed>"]


def test_invalid_feed_is_not_written(tmp_path):
    feed = make_feed()
    feed.entries[0].installers[0].sha1 = "not a hash"
    with pytest.raises(webpi.FeedError, match="sha1"):
        webpi.write_feed(str(tmp_path / "f.xml"), feed)
    assert os.listdir(tmp_path) == []


def test_example_feed_is_valid():
    root = webpi.read_feed(EXAMPLE_FEED)
    assert webpi.validate_feed(root) == []
    products = {e.findtext("productId"): e for e in root.findall("entry")}
    assert {"WSGISampleIISApp", "PyramidIISApp", "iiswsgi",
            "Python311"} <= set(products)


def test_template_merge(tmp_path):
    template = tmp_path / "base.xml"
    template.write_text(
        '<feed xmlns="%s"><webpiFile version="4.0.0.0"/><title>Base</title>'
        '<id>urn:base</id><updated>2020-01-01T00:00:00Z</updated>'
        '<keywords><keyword id="Old">Old</keyword></keywords>'
        '<tabs><tab><keywordTab><id>T</id></keywordTab></tab></tabs>'
        '<entry><productId>ExampleApp</productId></entry>'
        '<entry><productId>Kept</productId><title>K</title><id>k</id>'
        '<version>1</version><installers><installer><id>1</id>'
        '<languageId>en</languageId><installCommands><cmdline><exe>x</exe>'
        '</cmdline></installCommands></installer></installers></entry>'
        '</feed>' % webpi.ATOM)
    data = webpi.write_feed(str(tmp_path / "out.xml"), make_feed(),
                            str(template))
    root = webpi.check_feed(data)
    assert root.findtext("title") == "Base"
    assert root.findtext("id") == "urn:base"
    assert root.find("tabs") is not None
    assert [e.findtext("productId") for e in root.findall("entry")] == [
        "Kept", "ExampleApp", "iiswsgi"]
    assert root.findall("entry")[1].findtext("version") == "1.0"
    assert {k.get("id") for k in root.find("keywords")} == {
        "Old", "Python", "IIS"}


@pytest.mark.parametrize("value, expected", [
    ("2012-10-28", "2012-10-28T00:00:00Z"),
    ("2012-10-28T10:00:00+02:00", "2012-10-28T08:00:00Z"),
    ("2009-3-17T16:30:00Z", "2009-03-17T16:30:00Z"),
    (" 2012-10-28T1:05 ", "2012-10-28T01:05:00Z"),
    ("2012-10-28T10:00:30.123456-0130", "2012-10-28T11:30:30Z"),
    ("2012-10-28T00:30:00+01:00", "2012-10-27T23:30:00Z"),
    ("2024-02-29", "2024-02-29T00:00:00Z"),
])
def test_normalize_date(value, expected):
    assert webpi.normalize_date(value) == expected


@pytest.mark.parametrize("value", [
    "2023-02-29", "2024-13-01", "2024-01-31T24:00:00Z",
    "2024-01-31T12:60", "2024-01-31T12:00:00+24:00", "20240131",
    "2024-01-31 12:00:00", "2024-01-31T12", "2024-01-31Z",
    "2024-W05-1", "2024-01-31t12:00:00z", "yesterday", ""])
def test_normalize_date_refuses(value):
    """The same forms on every Python (3.11's fromisoformat reads more
    than 3.10's), and only moments that exist."""
    with pytest.raises(webpi.FeedError, match="the date must be an ISO 8601"
                       " date such as 2024-01-31 or 2024-01-31T12:00:00Z,"
                       " not %s" % re.escape(repr(value))):
        webpi.normalize_date(value)


def test_validator_refuses_a_date_that_does_not_exist():
    root = parse(make_feed())
    root.find("entry/updated").text = "2023-02-29T00:00:00Z"
    assert webpi.validate_feed(root) == [
        "entry 1 (ExampleApp): <updated> '2023-02-29T00:00:00Z' is not an"
        " ISO 8601 date-time"]


def test_bad_values():
    with pytest.raises(webpi.FeedError, match="setup.. keyword published"
                       " of X must be an ISO 8601 date"):
        webpi.normalize_date("last week", "setup() keyword published of X")
    with pytest.raises(webpi.FeedError, match=r"uses \{filename\}; the"
                       r" placeholders are \{name\}"):
        webpi.expand_url("https://x/{filename}", {})
    assert webpi.expand_url("https://x/{letter}/{msdeploy_file}", {
        "letter": "A", "msdeploy_file": "A.zip"}) == "https://x/A/A.zip"
    assert webpi.build_time({"SOURCE_DATE_EPOCH": "0"}) == \
        "1970-01-01T00:00:00Z"
    assert webpi.requirement_name("virtualenv >= 20") == "virtualenv"


def test_size_and_digest(tmp_path):
    path = tmp_path / "a.zip"
    data = os.urandom(2049)
    path.write_bytes(data)
    size, sha1 = webpi.file_digest(str(path))
    assert (size, sha1) == (2049, hashlib.sha1(data).hexdigest().upper())
    assert [webpi.size_kb(n) for n in (1, 1024, 1025, 2049)] == [1, 1, 2, 3]


def cache_tree(root, feed_id="urn:iiswsgi:webpi:Mine"):
    """A WebPI cache as the reference notes describe it."""
    for product in ("WSGISampleIISApp", "Other"):
        folder = root / "installers" / product / "3F2A"
        folder.mkdir(parents=True)
        (folder / (product + ".zip")).write_bytes(b"zip")
    (root / "logs" / "webpi").mkdir(parents=True)
    (root / "logs" / "webpi" / "webpi0.txt").write_text("log")
    (root / "a1b2.xml").write_text(
        "<feed xmlns='%s'><id>%s</id></feed>" % (webpi.ATOM, feed_id))
    (root / "c3d4.xml").write_text("<feed><id>urn:someone-else</id></feed>")
    (root / "broken.xml").write_text("<feed><id>")
    return root


def test_clean_cache(tmp_path, iiswsgi_log):
    caplog = iiswsgi_log
    root = cache_tree(tmp_path / "Web Platform Installer")
    ids = ["wsgisampleiisapp", "PyramidIISApp"]
    would = webpi.clean_cache(str(root), ids, {"urn:iiswsgi:webpi:Mine"},
                              dry_run=True)
    assert sorted(os.path.basename(path) for path in would) == [
        "WSGISampleIISApp", "a1b2.xml"]
    assert (root / "installers" / "WSGISampleIISApp").exists()
    removed = webpi.clean_cache(str(root), ids, {"urn:iiswsgi:webpi:Mine"})
    assert removed == would
    assert not (root / "installers" / "WSGISampleIISApp").exists()
    assert not (root / "a1b2.xml").exists()
    assert sorted(os.listdir(root)) == ["broken.xml", "c3d4.xml",
                                        "installers", "logs"]
    assert os.listdir(root / "installers") == ["Other"]
    assert "PyramidIISApp: no cached download" in caplog.text


def test_clean_cache_without_a_cache(tmp_path, iiswsgi_log):
    caplog = iiswsgi_log
    assert webpi.clean_cache(str(tmp_path / "none"), ["A"], {"x"}) == []
    assert "no WebPI cache at" in caplog.text
    assert webpi.default_cache_root({}) is None
    assert webpi.default_cache_root({"LOCALAPPDATA": "L"}) == os.path.join(
        "L", "Microsoft", "Web Platform Installer")


def test_stale_stamps(tmp_path):
    folders = {}
    for name in ("MyApp", "MyApp2", "MyAppOld", "Other"):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        (folders[name] / "iis_install.stamp").write_text("#")

    def application(path, folder):
        return Application("Site", path, "Pool", [VirtualDirectory(
            "/", str(folder), str(folder))])

    sites = [Site("Site", "1", [
        application("/MyApp", folders["MyApp"]),
        application("/other", folders["MyApp2"]),
        application("/x", folders["MyAppOld"]),
        application("/y", folders["Other"])])]
    found = webpi.stale_stamps(["myapp"], lambda: sites, "iis_install.stamp")
    assert found == [str(folders[n] / "iis_install.stamp")
                     for n in ("MyApp", "MyApp2")]


@pytest.mark.skipif(os.name == "nt", reason="needs POSIX links")
def test_stale_stamps_are_never_links(tmp_path, iiswsgi_log):
    """A stamp that is a symbolic or hard link (to a file outside the
    site), or not a file, is not stale: it is not listed for removal, and
    a warning says why (the rule iiswsgi_install follows)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    folders = [tmp_path / name for name in (
        "MyApp", "MyApp2", "MyApp3", "MyApp4", "MyApp5")]
    for folder in folders:
        folder.mkdir()
    (folders[0] / "iis_install.stamp").write_text("#")
    (folders[1] / "iis_install.stamp").symlink_to(outside / "precious")
    os.link(outside / "precious", folders[2] / "iis_install.stamp")
    (folders[3] / "iis_install.stamp").mkdir()
    (folders[4] / "iis_install.stamp").symlink_to(outside / "missing")
    sites = [Site("Site", "1", [
        Application("Site", "/app%d" % number, "Pool", [VirtualDirectory(
            "/", str(folder), str(folder))])
        for number, folder in enumerate(folders)])]
    found = webpi.stale_stamps(["MyApp"], lambda: sites, "iis_install.stamp")
    assert found == [str(folders[0] / "iis_install.stamp")]
    for folder, problem in zip(folders[1:], [
            "it is a symbolic link", "it is a hard link",
            "it is not a regular file", "it is a symbolic link"]):
        assert "ignoring %s: %s" % (folder / "iis_install.stamp",
                                    problem) in iiswsgi_log.text
    assert (outside / "precious").read_text() == "keep me"


def test_feed_error_is_an_iiswsgi_error_and_a_value_error():
    with pytest.raises(IISWSGIError):
        webpi.normalize_date("never")
    assert issubclass(webpi.FeedError, ValueError)
