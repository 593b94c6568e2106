"""Make ``build`` run ``build_msdeploy`` in projects with a
``Manifest.xml.in`` (a ``setuptools.finalize_distribution_options`` entry
point, so nothing is changed at import time)."""

import os

__all__ = ["add_build_msdeploy", "has_manifest_template"]

TEMPLATE = "Manifest.xml.in"


def has_manifest_template(command):
    distribution = command.distribution
    wanted = getattr(distribution, "msdeploy_package", None)
    if wanted is not None:
        return wanted
    root = getattr(distribution, "src_root", None) or os.curdir
    return os.path.isfile(os.path.join(root, TEMPLATE))


def add_build_msdeploy(distribution):
    root = getattr(distribution, "src_root", None) or os.curdir
    if getattr(distribution, "msdeploy_package", None) is False or not (
            getattr(distribution, "msdeploy_package", None)
            or os.path.isfile(os.path.join(root, TEMPLATE))):
        return
    base = distribution.get_command_class("build")
    if any(name == "build_msdeploy" for name, _ in base.sub_commands):
        return
    distribution.cmdclass["build"] = type("build", (base,), {
        "sub_commands": base.sub_commands + [
            ("build_msdeploy", has_manifest_template)]})
