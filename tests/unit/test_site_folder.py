"""The site's folder, as the gateway (what it watches) and hosting (where
it reads web.config) both find it."""

import os

from iiswsgi.gateway.site import site_folder
from iiswsgi.hosting import appsettings


def test_the_folder_is_appl_physical_path_without_its_separator(tmp_path):
    assert site_folder({"APPL_PHYSICAL_PATH": str(tmp_path) + os.sep}) == (
        str(tmp_path))
    assert site_folder({"APPL_PHYSICAL_PATH": str(tmp_path) + "\\"}) == (
        str(tmp_path))


def test_without_appl_physical_path_the_folder_is_the_working_directory(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert site_folder({}) == os.getcwd()
    assert site_folder({"APPL_PHYSICAL_PATH": ""}) == os.getcwd()


def test_a_root_folder_keeps_its_separator():
    assert site_folder({"APPL_PHYSICAL_PATH": "/"}) == "/"


def test_hosting_finds_the_same_folder():
    assert appsettings.site_folder is site_folder
