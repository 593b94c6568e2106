"""Make ``build`` run ``build_msdeploy`` in projects with a
``Manifest.xml.in``, and make ``upload`` publish_msdeploy where
setuptools' own ``upload`` is only the stub saying it was removed (a
``setuptools.finalize_distribution_options`` entry point, so nothing is
changed at import time)."""

import importlib.util
import os
import re
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:                # the annotations only
    from setuptools import Command, Distribution

__all__ = ["add_build_msdeploy", "add_upload", "has_manifest_template",
           "is_msdeploy_dist", "stock_upload_removed"]

TEMPLATE = "Manifest.xml.in"


def is_msdeploy_dist(distribution: Any, root: Optional[str] = None) -> bool:
    """True for an MSDeploy dist: its ``msdeploy_package`` setup() keyword
    says so, or, when that is not set, it has a Manifest.xml.in in
    ``root`` (by default its src_root, else the current folder)."""
    wanted = getattr(distribution, "msdeploy_package", None)
    if wanted is not None:
        return bool(wanted)
    if root is None:
        root = getattr(distribution, "src_root", None) or os.curdir
    return os.path.isfile(os.path.join(root, TEMPLATE))


def has_manifest_template(command: "Command") -> bool:
    """The ``build`` sub-command test: is this an MSDeploy dist?"""
    return is_msdeploy_dist(command.distribution)


def stock_upload_removed() -> bool:
    """True when setuptools has no working ``upload``: its module is gone,
    or is the stub that raises RemovedCommandError (setuptools >= 42).
    Told by setuptools' version, without importing the module: that
    import (distutils' upload and its HTTP client) cost every setup.py
    run more than the rest of this hook."""
    try:
        if importlib.util.find_spec("setuptools.command.upload") is None:
            return True
    except (ImportError, ValueError):
        return True
    import setuptools
    major = re.match(r"\d+", getattr(setuptools, "__version__", ""))
    return major is None or int(major.group()) >= 42


def add_upload(distribution: "Distribution") -> None:
    """``upload`` = publish_msdeploy, unless the project set its own
    ``upload`` in cmdclass or setuptools' works."""
    if "upload" in distribution.cmdclass or not stock_upload_removed():
        return
    from .publish_msdeploy import publish_msdeploy
    distribution.cmdclass["upload"] = type("upload", (publish_msdeploy,), {
        "__doc__": publish_msdeploy.__doc__,
        "__module__": publish_msdeploy.__module__})


def add_build_msdeploy(distribution: "Distribution") -> None:
    add_upload(distribution)
    if not is_msdeploy_dist(distribution):
        return
    base = distribution.get_command_class("build")
    if any(name == "build_msdeploy" for name, _ in base.sub_commands):
        return
    distribution.cmdclass["build"] = type("build", (base,), {
        "sub_commands": base.sub_commands + [
            ("build_msdeploy", has_manifest_template)]})
