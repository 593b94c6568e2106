"""Copies of both examples with their MSDeploy zips built by real
``setup.py`` runs, for the bdist_webpi, clean_webpi and publishing tests."""

import os
import shutil

from tests.integration.test_msdeploy_commands import bdist

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")
NAMES = {"sample.msdeploy": "WSGISampleIISApp",
         "pyramid.msdeploy": "PyramidIISApp"}


def copy_examples(folder):
    """Both examples and web-pi.xml copied under ``folder``."""
    for example in NAMES:
        shutil.copytree(os.path.join(EXAMPLES, example), folder / example)
    shutil.copy(os.path.join(EXAMPLES, "web-pi.xml"), folder / "web-pi.xml")
    return folder


def build_examples(folder):
    """:func:`copy_examples`, then bdist_msdeploy in each; the sample's
    folder and the zips by dist name."""
    copy_examples(folder)
    zips = {}
    for example, name in NAMES.items():
        result = bdist(folder / example)
        assert result.returncode == 0, result.stdout
        (package,) = os.listdir(folder / example / "dist")
        zips[name] = folder / example / "dist" / package
    return folder / "sample.msdeploy", zips
