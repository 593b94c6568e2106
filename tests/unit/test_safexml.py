"""iiswsgi.safexml: the one rule of what XML cannot hold, the one way a
document is written, and reading a file or raising the caller's error."""

import xml.etree.ElementTree as ElementTree

import pytest

from iiswsgi import safexml
from iiswsgi.msdeploy import PackageError
from iiswsgi.webpi import FeedError
from iiswsgi.webpi.values import xml_text


@pytest.mark.parametrize("character", ["\x00", "\x1f", "\ud800", "\udfff",
                                       "\ufffe", "\uffff"])
def test_not_xml_is_refused_or_dropped(character):
    with pytest.raises(ValueError, match=r"U\+%04X at position 1"
                       % ord(character)):
        safexml.check_xml_text("a" + character + "b", "the title")
    assert xml_text("a" + character + "b") == "ab"


def test_tab_and_line_ends_are_xml():
    assert safexml.check_xml_text("a\tb\nc\r") == "a\tb\nc\r"


def test_serialize_declares_indents_and_ends_the_line():
    root = ElementTree.Element("feed")
    ElementTree.SubElement(root, "id").text = "x"
    assert safexml.serialize(root) == (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<feed>\n  <id>x</id>\n</feed>\n")
    flat = ElementTree.Element("m")
    ElementTree.SubElement(flat, "a")
    assert safexml.serialize(flat, indent=None) == (
        '<?xml version="1.0" encoding="utf-8"?>\n<m><a /></m>\n')


def test_parse_file_or_raises_the_callers_error(tmp_path):
    missing = str(tmp_path / "Parameters.xml")
    with pytest.raises(PackageError, match="the parameters file .*"
                       "Parameters.xml not found: add one"):
        safexml.parse_file_or(missing, PackageError, "the parameters file",
                              "add one")
    with pytest.raises(FeedError, match="the feed .* cannot be read"):
        safexml.parse_file_or(missing, FeedError, "the feed")
    broken = tmp_path / "feed.xml"
    broken.write_text("<feed>")
    with pytest.raises(FeedError, match="feed.xml is not well-formed XML:"
                       " line 1"):
        safexml.parse_file_or(str(broken), FeedError, "the feed")
    broken.write_text("<feed><id>x</id></feed>")
    assert safexml.parse_file_or(str(broken), FeedError).tag == "feed"
