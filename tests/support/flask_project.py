"""A real pyproject-only Flask project (hatchling, no setup.py) and its Web
Deploy package, built with `python -m iiswsgi package` for the Windows
tests' interpreter (CPython 3.13, win_amd64), from real PyPI.

Use a session fixture in a test module with
``from tests.support.flask_project import flask_package  # noqa: F401``
(win_amd64, CPython 3.13) or ``flask_package_here`` (this Python, Linux
x86-64: its wheelhouse installs on this machine); each gives a
:class:`FlaskPackage` (the project folder, the zip, the build's output and
seconds) and builds once per test session.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

__all__ = ["FLASK_APP", "FlaskPackage", "TARGET_PYTHON", "TARGET_PLATFORM",
           "build_flask_package", "flask_package", "flask_package_here",
           "make_flask_project", "package_command"]

TARGET_PYTHON = "3.13"
TARGET_PLATFORM = "win_amd64"
NAME = "FlaskIISApp"
VERSION = "0.1"

FLASK_APP = '''\
from flask import Flask
from markupsafe import escape

app = Flask(__name__)


@app.route("/")
def index():
    return "Hello from %s" % escape("Flask <under> IIS")
'''

PYPROJECT = '''\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "%s"
version = "%s"
description = "A Flask application served by iiswsgi"
requires-python = ">=3.10"
dependencies = ["Flask>=3", "MarkupSafe>=2.1"]

[tool.hatch.build.targets.wheel]
packages = ["src/flask_iis_app"]

[tool.iiswsgi]
wsgi-handler = "flask_iis_app.app"
title = "Flask on IIS"
''' % (NAME, VERSION)


@dataclass
class FlaskPackage:
    project: str
    zip_path: str
    output: str
    seconds: float


def make_flask_project(folder) -> str:
    """Write the project into ``folder`` (created); its path."""
    folder = str(folder)
    package = os.path.join(folder, "src", "flask_iis_app")
    os.makedirs(package)
    with open(os.path.join(folder, "pyproject.toml"), "w") as stream:
        stream.write(PYPROJECT)
    with open(os.path.join(package, "__init__.py"), "w") as stream:
        stream.write(FLASK_APP)
    return folder


def package_command(project, *args, env=None):
    """Run `python -m iiswsgi package PROJECT ARGS`; the CompletedProcess
    (stdout: the zip's path; stderr: the progress)."""
    return subprocess.run(
        [sys.executable, "-m", "iiswsgi", "package", str(project)]
        + list(args), text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env=dict(os.environ, **(env or {})))


def build_flask_package(folder, python, platform) -> FlaskPackage:
    """Make the project in ``folder`` and build its package for
    ``python`` (X.Y) and ``platform`` (a wheel platform tag)."""
    project = make_flask_project(folder)
    started = time.monotonic()
    result = package_command(project, "--python", python, "--platform",
                             platform, env={"SOURCE_DATE_EPOCH": "1700000000"})
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    zip_path = result.stdout.strip().splitlines()[-1]
    assert os.path.isfile(zip_path), result.stdout
    return FlaskPackage(project, zip_path, result.stderr, seconds)


@pytest.fixture(scope="session")
def flask_package(tmp_path_factory):
    """The package for the Windows tests' CPython 3.13, win_amd64."""
    return build_flask_package(tmp_path_factory.mktemp("flask") / "src",
                               TARGET_PYTHON, TARGET_PLATFORM)


@pytest.fixture(scope="session")
def flask_package_here(tmp_path_factory):
    """The package for this Python on Linux x86-64 (manylinux2014), whose
    wheelhouse installs here: for end-to-end installs on this machine."""
    return build_flask_package(
        tmp_path_factory.mktemp("flask-here") / "src",
        "%d.%d" % sys.version_info[:2], "manylinux2014_x86_64")
