"""iiswsgi.commands: the helpers the setup.py commands share (option
splitting, "is this an MSDeploy dist", the feed's id)."""

import pytest
from distutils.errors import DistutilsOptionError
from setuptools import Distribution

from iiswsgi.commands import split_paths
from iiswsgi.commands.bdist_webpi import feed_id
from iiswsgi.commands.build_hook import is_msdeploy_dist
from iiswsgi.commands.publish_msdeploy import publish_msdeploy

WINDOWS = r'C:\dist\App-1.0.msdeploy.zip "D:\my dists\App-1.0.webpi.xml"'
SPLIT = [r"C:\dist\App-1.0.msdeploy.zip", r"D:\my dists\App-1.0.webpi.xml"]


def test_split_paths_keeps_backslashes_and_quotes_group():
    assert split_paths(WINDOWS, "--files") == SPLIT
    assert split_paths(["a b", "c"]) == ["a b", "c"]
    assert split_paths(None) == []


def test_split_paths_names_the_option_of_an_unclosed_quote():
    with pytest.raises(DistutilsOptionError, match="--files 'a \"b'"):
        split_paths('a "b', "--files")


def test_publish_msdeploy_files_keep_windows_paths():
    command = publish_msdeploy(Distribution({"name": "App"}))
    command.files = WINDOWS
    command.finalize_options()
    assert command.paths() == SPLIT


@pytest.mark.parametrize("keyword, template, expected", [
    (None, True, True), (None, False, False),
    (True, False, True), (False, True, False),
])
def test_is_msdeploy_dist(tmp_path, keyword, template, expected):
    distribution = Distribution({"name": "App"})
    if keyword is not None:
        distribution.msdeploy_package = keyword
    if template:
        (tmp_path / "Manifest.xml.in").write_text("<MSDeploy.iisApp/>")
    assert is_msdeploy_dist(distribution, str(tmp_path)) is expected


@pytest.mark.parametrize("url, expected", [
    ("https://example.org/app", "https://example.org/app"),
    ("UNKNOWN", "urn:iiswsgi:webpi:App"), (None, "urn:iiswsgi:webpi:App"),
])
def test_feed_id(url, expected):
    distribution = Distribution({"name": "App", "url": url})
    assert feed_id(distribution) == expected
