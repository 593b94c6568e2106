"""``iiswsgi_install``: the command a package's ``<runCommand>`` runs, as
an administrator, after Web Deploy has copied the application.

Finding the folder.  Web Deploy tells the command nothing about the
application (the current directory is system32; no argument or variable
names the site), and the sites of one server belong to different people,
so a folder is taken only when the package's own *build token* (given by
``--build-token``, written in the runCommand by ``iiswsgi package``)
is the one in its ``iis_install.stamp`` (the line
``iiswsgi-build-token: <hex>``):

* ``--directory DIR``, else ``APPL_PHYSICAL_PATH``, when given: checked
  (no ``..`` part, an existing folder that is not itself a link, inside
  the IIS sites' folders when appcmd can list them, holding a trusted
  stamp with the token when one is given);
* else the IIS sites (``appcmd list config
  /section:system.applicationHost/sites /xml``) are searched for trusted
  stamps carrying the token.  Exactly one folder must match: several are
  refused and listed (someone copied the stamp).  A stamp's time counts
  for nothing, and no code in a candidate folder is ever run: ``-a NAME``
  compares the name read from the folder's PKG-INFO, pyproject.toml
  ``[project] name`` or setup.cfg ``[metadata] name``.

Without ``--build-token`` (a package built by iiswsgi 0.3) there is no
search: the folder must be given (``--directory`` or
``APPL_PHYSICAL_PATH``), and the error says to rebuild the package.

Installing.  Offline by default: pip is given ``--no-index --find-links
<folder>/wheelhouse`` (plus any ``--find-links``; ``--index-url`` allows
an index).  With ``-e`` (or ``--venv DIR``) a virtual environment is made
first, by default ``<folder>/.venv`` (not ``lib/``, ``include/``,
``bin/`` beside the project's own files); an embeddable CPython (a
``python3X._pth`` beside it, no ``venv`` module) is copied there instead,
with its own ``._pth``, and packages go to its ``Lib\\site-packages`` with
``pip --target``.  Then ``requirements.txt`` (when there is one), the
project itself from its wheel in the wheelhouse (never ``setup.py
develop``), and iiswsgi (when the environment cannot import it) are
installed.  Finally the setup.py commands given (default
``install_msdeploy test_msdeploy``) run in the folder; a project without
setup.py gets install_msdeploy's job done here: web.config written from
web.config.in and its FastCGI application registered.

The stamp is removed only when all of that succeeded, so a failed install
can be run again as it is.  Everything is also logged to
``iiswsgi_install.log`` in the folder (never through a link), since Web
Deploy swallows the output.
"""

import argparse
import configparser
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from email.parser import HeaderParser
from typing import Iterable, List, Mapping, Optional, Sequence, Union

from ..errors import IISWSGIError
from ..files import is_within
from ..iis import appcmd as appcmd_module
from ..iis.appcmd import Site
from ..iis.apphost import expanded_paths
from ..logs import open_log_file
from .stamp import (STAMP, folder_problem, has_parent_part, is_build_token,
                    read_build_token, same_token, search_stamps,
                    stamp_problem)

__all__ = ["InstallError", "create_virtualenv", "declared_name",
           "find_app_directory", "main", "search_order", "site_folders"]

log = logging.getLogger("iiswsgi.msdeploy.install")

LOG_NAME = "iiswsgi_install.log"
DEFAULT_COMMANDS = ["install_msdeploy", "test_msdeploy"]
DEFAULT_VENV = ".venv"
WHEELHOUSE = "wheelhouse"
REQUIREMENTS = "requirements.txt"
#: Set for the setup.py commands: the project is installed already, so
#: install_msdeploy's pre_install does not install it again.
INSTALLED_VARIABLE = "IISWSGI_INSTALLED"
REBUILD = ("Rebuild the package with iiswsgi 0.4 or later (`iiswsgi"
           " package`, or `setup.py bdist_msdeploy`) so that its runCommand"
           " passes --build-token, or name the application's folder:"
           " `iiswsgi_install --directory C:\\inetpub\\wwwroot\\App ...`"
           " (or set APPL_PHYSICAL_PATH)")


class InstallError(IISWSGIError):
    """The application cannot be found or installed."""


def site_folders(sites: Iterable[Site]) -> List[str]:
    """Every physical folder of ``sites`` (expanded), without duplicates."""
    return list(expanded_paths(sites))


def search_order(sites: Sequence[Site]) -> List[str]:
    """The expanded physical paths of ``sites`` (from
    :func:`iiswsgi.iis.appcmd.list_sites`), newest application first."""
    return list(expanded_paths(sites, newest_first=True))


def _normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


# -- names, read, never run ----------------------------------------------

def _read_text(path, limit=1 << 20):
    """At most ``limit`` bytes of the plain file ``path`` (not a link), as
    text; None when there is none."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        with open(path, "rb") as stream:
            return stream.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def _toml_project_name(text):
    try:
        import tomllib
    except ImportError:                 # Python 3.10, embeddable CPython
        tomllib = None
    if tomllib is not None:
        try:
            name = tomllib.loads(text).get("project", {}).get("name")
        except (tomllib.TOMLDecodeError, AttributeError):
            return None
        return name if isinstance(name, str) else None
    table = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            table = line.strip("[] \t")
            continue
        match = re.match(r"""name\s*=\s*["']([^"']+)["']\s*(#.*)?$""", line)
        if table == "project" and match:
            return match.group(1)
    return None


def declared_name(directory: str) -> Optional[str]:
    """The distribution name a project folder declares, read from its
    PKG-INFO (``Name:``), pyproject.toml (``[project] name``) or setup.cfg
    (``[metadata] name``), in that order; None when none says.  Nothing in
    the folder is run."""
    text = _read_text(os.path.join(directory, "PKG-INFO"))
    if text:
        name = HeaderParser().parsestr(text).get("Name")
        if name and name.strip():
            return name.strip()
    text = _read_text(os.path.join(directory, "pyproject.toml"))
    if text:
        name = _toml_project_name(text)
        if name:
            return name
    text = _read_text(os.path.join(directory, "setup.cfg"))
    if text:
        parser = configparser.RawConfigParser()
        try:
            parser.read_string(text)
            name = parser.get("metadata", "name", fallback=None)
        except configparser.Error:
            name = None
        if name and name.strip():
            return name.strip()
    return None


# -- finding the folder ----------------------------------------------------

def _is_link(path):
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISLNK(info.st_mode) or bool(getattr(
        info, "st_file_attributes", 0) & getattr(
        stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0))


def _outside(path, folders):
    """Why ``path`` is outside every one of the site ``folders``, or
    None."""
    real = os.path.realpath(path)
    for folder in folders:
        if not has_parent_part(folder) and is_within(
                real, os.path.realpath(folder)):
            return None
    return ("it resolves to %s, outside the folders of the IIS sites"
            " (through a symbolic link or junction)" % real)


def check_app_folder(path: str, token: Optional[str],
                     folders: Optional[Sequence[str]],
                     require_stamp: bool = True) -> None:
    """InstallError unless ``path`` (given by the administrator) may be
    installed: no ``..`` part, an existing folder that is not a link,
    inside one of the site ``folders`` (when known: not None), and holding
    a trusted stamp (unless not ``require_stamp``) that carries ``token``
    (when given)."""
    problem = folder_problem(path)
    if not problem and _is_link(path):
        problem = "it is a symbolic link (or junction); give the folder" \
                  " it points to"
    if not problem and folders is not None:
        problem = _outside(path, folders)
    if problem:
        raise InstallError(problem)
    stamp = os.path.join(path, STAMP)
    try:
        problem = stamp_problem(path)
    except FileNotFoundError:
        if require_stamp:
            raise InstallError(
                "it has no %s: either it has been installed already (run"
                " again with -i to install again) or it is not the"
                " package's folder" % STAMP) from None
        return
    if problem and not require_stamp:
        log.warning("leaving %s alone (-i): %s", stamp, problem)
        return
    if problem:
        raise InstallError("its %s is refused: %s" % (stamp, problem))
    if token is not None:
        found = read_build_token(path)
        if not same_token(found, token):
            raise InstallError(
                "its %s %s, not the --build-token given: it is not this"
                " package's folder" % (stamp, "carries another build token"
                                       if found else "has no build token"))


def _list_sites(appcmd, env):
    return appcmd_module.list_sites(appcmd, env)


def find_app_directory(build_token: Optional[str] = None,
                       directory: Optional[str] = None,
                       app_name: Optional[str] = None,
                       appcmd: Union[str, Sequence[str], None] = None,
                       environ: Optional[Mapping[str, str]] = None,
                       require_stamp: bool = True) -> str:
    """The application folder, as the module docstring says."""
    env = os.environ if environ is None else environ
    if build_token is not None and not is_build_token(build_token):
        raise InstallError(
            "--build-token %r is not a build token (64 lowercase hex"
            " digits); copy it from the package's Manifest.xml"
            % build_token)
    given, source = directory, "--directory"
    if not given and env.get("APPL_PHYSICAL_PATH"):
        given, source = env["APPL_PHYSICAL_PATH"], "APPL_PHYSICAL_PATH"
    if given:
        try:
            folders = site_folders(_list_sites(appcmd, env))
        except appcmd_module.AppcmdError as error:
            log.info("%s cannot be checked against the IIS sites: %s",
                     source, error)
            folders = None
        try:
            check_app_folder(given, build_token, folders, require_stamp)
        except InstallError as error:
            raise InstallError("refusing %s %s: %s" % (source, given, error)
                               ) from None
        log.info("the application folder (%s): %s", source, given)
        return given
    if build_token is None:
        raise InstallError(
            "no --build-token and no folder given: the package's folder"
            " cannot be told from a stamp someone else left in a site."
            " %s" % REBUILD)
    if not require_stamp:
        raise InstallError(
            "-i (the stamp is gone) needs the folder: give --directory (or"
            " APPL_PHYSICAL_PATH)")
    try:
        sites = _list_sites(appcmd, env)
    except appcmd_module.AppcmdError as error:
        raise InstallError(
            "no --directory or APPL_PHYSICAL_PATH, and the IIS sites cannot"
            " be listed: %s" % error) from None
    searched, found, others = search_order(sites), [], []
    for path, mtime in search_stamps(searched):
        if mtime is None:
            continue
        if not same_token(read_build_token(path), build_token):
            others.append(path)
            log.info("%s has a %s of another package (or none with a"
                     " build token): not searched further", path, STAMP)
            continue
        if any(os.path.realpath(path) == os.path.realpath(known)
               for known in found):
            continue
        if app_name:
            name = declared_name(path)
            if name is not None and _normalize(name) != _normalize(app_name):
                log.info("%s has this package's stamp but declares the name"
                         " %s, not %s", path, name, app_name)
                continue
        found.append(path)
    if not found:
        raise InstallError(
            "found no %s with this build token in the IIS application"
            " folders appcmd lists; searched: %s%s" % (
                STAMP, ", ".join(searched) or "(no virtual directories)",
                "; stamps of other packages in: %s" % ", ".join(others)
                if others else ""))
    if len(found) > 1:
        raise InstallError(
            "refusing to choose: %d folders hold a %s with this build token"
            " (one is a copy someone made): %s. Remove the copies, or name"
            " the folder with --directory" % (len(found), STAMP,
                                               ", ".join(found)))
    log.info("found the application folder by its build token: %s",
             found[0])
    return found[0]


# -- the log -----------------------------------------------------------------

def _open_log(path):
    """A handler appending to ``path``, never through a link someone left
    there (InstallError)."""
    if os.path.islink(path):
        raise InstallError("refusing to log to %s: it is a symbolic link"
                           % path)
    try:
        stream = open_log_file(path, 0o644)
    except OSError as error:
        raise InstallError("cannot open the log %s: %s" % (path, error)) \
            from None
    return logging.StreamHandler(stream)


# -- the environment ---------------------------------------------------------

def _venv_python(directory):
    if os.name == "nt":
        return os.path.join(directory, "Scripts", "python.exe")
    return os.path.join(directory, "bin", "python")


def embeddable_pth(python: str = sys.executable) -> Optional[str]:
    """The ``python3X._pth`` beside ``python`` (an embeddable CPython,
    which takes sys.path from it and has no venv module), or None."""
    folder = os.path.dirname(os.path.abspath(python))
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    for name in sorted(names):
        if re.match(r"python3\d*\._pth\Z", name, re.IGNORECASE):
            return os.path.join(folder, name)
    return None


def _copy_file(source, target):
    """Copy a file by its bytes (not shutil.copy2, whose CopyFile2 some
    Windows look-alikes lack), keeping its modification time."""
    with open(source, "rb") as reader, open(target, "wb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)
    info = os.stat(source)
    os.utime(target, (info.st_atime, info.st_mtime))


def _copy_embeddable(pth, directory):
    """A private copy of the embeddable CPython whose ``._pth`` is
    ``pth`` in ``directory``, with its own ``._pth`` adding
    ``Lib\\site-packages``; its python.exe."""
    source = os.path.dirname(pth)
    os.makedirs(os.path.join(directory, "Lib", "site-packages"),
                exist_ok=True)
    for name in os.listdir(source):
        path = os.path.join(source, name)
        if os.path.isfile(path) and not _is_link(path) and (
                os.path.splitext(name)[1].lower() in (
                    ".exe", ".dll", ".pyd", ".zip", ".cat", ".txt")):
            _copy_file(path, os.path.join(directory, name))
    zips = [name for name in os.listdir(source)
            if re.match(r"python3\d*\.zip\Z", name, re.IGNORECASE)]
    lines = zips + [".", "Lib\\site-packages"]
    with open(os.path.join(directory, os.path.basename(pth)), "w",
              encoding="utf-8") as stream:
        stream.write("\n".join(lines) + "\n")
    log.info("copied the embeddable CPython %s to %s (its own %s lists"
             " Lib\\site-packages)", source, directory,
             os.path.basename(pth))
    return os.path.join(directory, os.path.basename(sys.executable)
                        if sys.executable.lower().endswith(".exe")
                        else "python.exe")


def create_virtualenv(directory: str, with_pip: bool = False,
                      system_site_packages: bool = True) -> str:
    """Make a virtual environment in ``directory`` (kept when one is
    there); its python.  With ``system_site_packages`` it also sees this
    Python's packages (iiswsgi and whatever was installed with it).  An
    embeddable CPython is copied instead (see the module docstring)."""
    if _is_link(directory):
        raise InstallError("refusing the environment %s: it is a symbolic"
                           " link (or junction)" % directory)
    pth = embeddable_pth()
    if pth is not None:
        existing = os.path.join(directory, "python.exe")
        if os.path.isfile(existing):
            log.info("using the interpreter copy in %s", directory)
            return existing
        return _copy_embeddable(pth, directory)
    python = _venv_python(directory)
    if os.path.isfile(os.path.join(directory, "pyvenv.cfg")) and \
            os.path.isfile(python):
        log.info("using the virtual environment in %s", directory)
        return python
    import venv
    log.info("creating a virtual environment in %s%s", directory,
             " that sees %s's packages" % sys.prefix
             if system_site_packages else "")
    venv.create(directory, system_site_packages=system_site_packages,
                with_pip=with_pip)
    if system_site_packages and sys.prefix != sys.base_prefix:
        # This Python is itself a virtual environment: its packages are
        # not the base's system site-packages, so point at them.
        import sysconfig
        purelib = subprocess.run(
            [python, "-c", "import sysconfig;"
             "print(sysconfig.get_paths()['purelib'])"], check=True,
            stdout=subprocess.PIPE, text=True).stdout.strip()
        line = "import site; site.addsitedir(%r)" % (
            sysconfig.get_paths()["purelib"],)
        with open(os.path.join(purelib, "_iiswsgi_parent.pth"), "w") as pth:
            pth.write(line + "\n")
    return python


# -- running things ---------------------------------------------------------

def _run(command, cwd, env):
    """Run ``command``, its output logged line by line; its exit status."""
    log.info("running %s in %s", subprocess.list2cmdline(command), cwd)
    started = time.monotonic()
    try:
        process = subprocess.Popen(command, cwd=cwd, env=env,
                                   stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True,
                                   errors="replace")
    except OSError as error:
        raise InstallError("cannot run %s: %s" % (command[0], error)) \
            from None
    for line in process.stdout:
        log.info("| %s", line.rstrip("\n"))
    status = process.wait()
    log.debug("exit status %d after %.1f s", status,
              time.monotonic() - started)
    return status


def _quiet(command, env=None):
    """The exit status of ``command``, its output dropped."""
    try:
        return subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              timeout=300).returncode
    except (OSError, subprocess.TimeoutExpired):
        return -1


class Installer:
    """pip, run for one target interpreter, offline unless an index is
    given."""

    def __init__(self, python: str, directory: str, links: Sequence[str],
                 index_url: Optional[str], env: Mapping[str, str],
                 target: Optional[str] = None) -> None:
        self.python = python
        self.directory = directory
        self.links = list(links)
        self.index_url = index_url
        self.env = dict(env)
        self.target = target            # pip --target (embeddable copy)
        self.pip = self._find_pip()

    def _find_pip(self):
        if self.target is None and self.python != sys.executable and \
                _quiet([self.python, "-m", "pip", "--version"]) == 0:
            return [self.python, "-m", "pip"]
        if _quiet([sys.executable, "-m", "pip", "--version"]) == 0:
            if self.target is not None or self.python == sys.executable:
                return [sys.executable, "-m", "pip"]
            command = [sys.executable, "-m", "pip", "--python", self.python]
            if _quiet(command + ["--version"]) == 0:
                return command
            # pip before 22.3 has no --python: give the environment its
            # own pip, from the wheel ensurepip keeps (no network).
            log.info("this pip cannot install into another environment;"
                     " running %s -m ensurepip", self.python)
            if _run([self.python, "-m", "ensurepip", "--default-pip"],
                    self.directory, self.env) == 0:
                return [self.python, "-m", "pip"]
        for folder in self.links:
            if os.path.isdir(folder):
                wheels = sorted(name for name in os.listdir(folder)
                                if re.match(r"pip-[^-]+-.*\.whl\Z", name))
                if wheels:
                    # pip runs from its own wheel.
                    return [sys.executable, os.path.join(
                        folder, wheels[-1], "pip")]
        raise InstallError(
            "pip is not available to %s: install it (`%s -m ensurepip`), or"
            " put a pip wheel in the package's wheelhouse"
            % (sys.executable, sys.executable))

    def sources(self) -> List[str]:
        options = []
        if self.index_url:
            options += ["--index-url", self.index_url]
        else:
            options.append("--no-index")
        for link in self.links:
            options += ["--find-links", link]
        return options

    def where(self) -> str:
        where = ", ".join(self.links) or "(no folder)"
        return "%s%s" % (where, " and " + self.index_url if self.index_url
                         else ", offline")

    def install(self, what: str, *requirements: str) -> None:
        command = self.pip + ["install", "--disable-pip-version-check",
                              "--no-input"] + self.sources()
        if self.target is not None:
            command += ["--target", self.target, "--upgrade"]
        command += list(requirements)
        log.info("installing %s from %s", what, self.where())
        status = _run(command, self.directory, self.env)
        if status:
            raise InstallError(
                "installing %s failed (pip's exit status %d; its output is"
                " above and in %s). Put the missing wheels in %s (`iiswsgi"
                " package` builds them), or give --find-links or"
                " --index-url" % (what, status, os.path.join(
                    self.directory, LOG_NAME), os.path.join(
                    self.directory, WHEELHOUSE)))

    def can_import(self, module: str) -> bool:
        # -I: not from the current folder, PYTHONPATH or the user's site.
        return _quiet([self.python, "-I", "-c", "import %s" % module],
                      self.env) == 0


def _wheel_of(wheelhouse, name):
    """The file name of ``name``'s wheel in ``wheelhouse``, or None."""
    if not name or not os.path.isdir(wheelhouse):
        return None
    wanted = re.sub(r"[-_.]+", "_", name).lower()
    for entry in sorted(os.listdir(wheelhouse)):
        if entry.endswith(".whl") and entry.split("-", 1)[0].lower().replace(
                ".", "_") == wanted:
            return entry
    return None


def install_project(installer: Installer, directory: str,
                    app_name: Optional[str]) -> None:
    """requirements.txt, setuptools when the project has a setup.py and
    the target cannot import it, the project (from its wheel when the
    wheelhouse has one, else built from the folder without an index), then
    iiswsgi when the target cannot import it."""
    wheelhouse = os.path.join(directory, WHEELHOUSE)
    requirements = os.path.join(directory, REQUIREMENTS)
    if os.path.isfile(requirements):
        installer.install(REQUIREMENTS, "-r", requirements)
    if os.path.isfile(os.path.join(directory, "setup.py")) and \
            installer.target is None and \
            not installer.can_import("setuptools"):
        if _wheel_of(wheelhouse, "setuptools") is None and not (
                installer.index_url or installer.links[1:]):
            raise InstallError(
                "%s cannot import setuptools, which the project's setup.py"
                " needs, and %s holds no setuptools wheel: add one (`pip"
                " download -d wheelhouse setuptools`), or give --find-links"
                % (installer.python, wheelhouse))
        installer.install("setuptools (for setup.py)", "setuptools")
    name = declared_name(directory) or app_name
    wheel = _wheel_of(wheelhouse, name)
    if wheel:
        installer.install("%s (%s)" % (name, wheel), name)
    elif any(os.path.isfile(os.path.join(directory, marker))
             for marker in ("pyproject.toml", "setup.py")):
        log.info("the wheelhouse has no wheel of %s: building it from %s",
                 name or "the project", directory)
        installer.install("%s from its folder" % (name or "the project"),
                          "--no-build-isolation", directory)
    else:
        log.info("no project to install in %s (no pyproject.toml,"
                 " setup.py, or wheel in %s)", directory, wheelhouse)
    ensure_iiswsgi(installer, wheelhouse)


def ensure_iiswsgi(installer: Installer, wheelhouse: str) -> None:
    """Install iiswsgi into the target from the wheelhouse (or the other
    sources) unless it can import it already; InstallError saying what to
    run when neither works."""
    if installer.target is None and installer.can_import("iiswsgi"):
        log.info("iiswsgi is importable by %s", installer.python)
        return
    if installer.target is not None and os.path.isdir(os.path.join(
            installer.target, "iiswsgi")):
        log.info("iiswsgi is in %s", installer.target)
        return
    if _wheel_of(wheelhouse, "iiswsgi") is None and not (
            installer.index_url or installer.links[1:]):
        raise InstallError(
            "iiswsgi is not importable by %s and %s holds no iiswsgi wheel."
            " Run `%s -m pip install iiswsgi` (add `--no-index --find-links"
            " DIR` with a folder holding its wheel), or rebuild the package"
            " with `iiswsgi package`, which puts it in the wheelhouse"
            % (installer.python, wheelhouse, installer.python))
    installer.install("iiswsgi", "iiswsgi")
    if installer.target is None and not installer.can_import("iiswsgi"):
        raise InstallError(
            "iiswsgi was installed but %s still cannot import it. Run `%s"
            " -m pip install --force-reinstall iiswsgi` and check its"
            " output" % (installer.python, installer.python))


# -- the command line ---------------------------------------------------------

def _parser():
    parser = argparse.ArgumentParser(
        prog="iiswsgi_install",
        description=__doc__.split("\n\n")[0].replace("``", ""),
        epilog="The first word that is not an option, and everything after"
               " it, are the setup.py commands and their options (default:"
               " %s)." % " ".join(DEFAULT_COMMANDS))
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-vv: debug)")
    parser.add_argument("--build-token", metavar="HEX",
                        help="the package's build token (its runCommand"
                             " gives it): only a folder whose"
                             " iis_install.stamp carries it is installed")
    parser.add_argument("-d", "--directory", metavar="DIR",
                        help="the application folder (default:"
                             " APPL_PHYSICAL_PATH, else the IIS site folder"
                             " whose stamp carries the build token)")
    parser.add_argument("-a", "--app-name",
                        help="only a folder that declares this distribution"
                             " name (PKG-INFO, pyproject.toml, setup.cfg)")
    parser.add_argument("-i", "--ignore-stamp", action="store_true",
                        help="install even when the iis_install.stamp is"
                             " gone (needs the folder), and leave it")
    parser.add_argument("-e", "--virtualenv", action="store_true",
                        help="make a virtual environment (default:"
                             " <folder>/.venv) and install into it")
    parser.add_argument("--venv", metavar="DIR",
                        help="the virtual environment's folder (implies -e)")
    parser.add_argument("--venv-pip", action="store_true",
                        help="with -e, install pip in the environment too")
    parser.add_argument("-f", "--find-links", metavar="DIR_OR_URL",
                        action="append", default=[],
                        help="more wheels (besides <folder>/wheelhouse);"
                             " repeatable")
    parser.add_argument("--index-url", "--index", metavar="URL",
                        help="allow this package index (default: none,"
                             " offline)")
    parser.add_argument("--no-install", action="store_true",
                        help="install nothing with pip; only run the"
                             " setup.py commands")
    parser.add_argument("--appcmd", metavar="PATH",
                        help="appcmd.exe (default: %%IIS_BIN%%\\appcmd.exe,"
                             " else %%WINDIR%%\\System32\\inetsrv\\"
                             "appcmd.exe)")
    parser.add_argument("commands", nargs=argparse.REMAINDER,
                        help=argparse.SUPPRESS)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    commands = args.commands or list(DEFAULT_COMMANDS)
    if commands[0].startswith("-"):
        parser.error("unknown option %s (setup.py commands and their"
                     " options come after iiswsgi_install's options)"
                     % commands[0])
    level = max(logging.DEBUG, logging.WARNING - 10 * args.verbose)
    root = logging.getLogger()
    root.setLevel(min(level, logging.INFO))
    console = logging.StreamHandler()
    console.setLevel(min(level, logging.INFO))
    console.setFormatter(logging.Formatter("iiswsgi_install: %(message)s"))
    root.addHandler(console)
    try:
        return _install(args, commands, root, explicit=bool(args.commands))
    except InstallError as error:
        log.error("%s", error)
        return 1
    finally:
        root.removeHandler(console)


def _install(args, commands, root, explicit=True):
    directory = find_app_directory(
        args.build_token, args.directory, args.app_name, args.appcmd,
        require_stamp=not args.ignore_stamp)
    directory = os.path.abspath(directory)
    handler = _open_log(os.path.join(directory, LOG_NAME))
    handler.setLevel(logging.DEBUG if args.verbose > 1 else logging.INFO)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    started = time.monotonic()
    try:
        log.info("installing the application in %s", directory)
        stamp = os.path.join(directory, STAMP)
        status = _install_in(args, commands, directory, explicit)
        if status:
            log.error("the install failed (exit status %d); %s is left in"
                      " place so that it can be run again; see %s", status,
                      stamp, os.path.join(directory, LOG_NAME))
            return status
        if not args.ignore_stamp:
            try:
                os.unlink(stamp)
                log.info("removed %s", stamp)
            except OSError as error:
                log.warning("cannot remove %s: %s", stamp, error)
        log.info("done in %.1f s", time.monotonic() - started)
        return 0
    except InstallError as error:
        log.error("%s", error)
        log.error("%s is left in place so that the install can be run"
                  " again once that is fixed", os.path.join(directory, STAMP))
        return 1
    finally:
        root.removeHandler(handler)
        handler.close()
        handler.stream.close()


def _install_in(args, commands, directory, explicit):
    env = dict(os.environ, APPL_PHYSICAL_PATH=directory)
    if args.appcmd:
        env["IISWSGI_APPCMD"] = os.path.abspath(args.appcmd)
    wheelhouse = os.path.join(directory, WHEELHOUSE)
    has_wheelhouse = os.path.isdir(wheelhouse) and not _is_link(wheelhouse)
    links = ([wheelhouse] if has_wheelhouse else []) + list(args.find_links)
    python, target = sys.executable, None
    if args.virtualenv or args.venv:
        venv_dir = os.path.abspath(args.venv or os.path.join(
            directory, DEFAULT_VENV))
        # An old package (no wheelhouse) relies on the packages installed
        # with the bootstrap, as 0.3 did.
        python = create_virtualenv(venv_dir, args.venv_pip,
                                   system_site_packages=not has_wheelhouse)
        if embeddable_pth() is not None:
            target = os.path.join(venv_dir, "Lib", "site-packages")
    if not (has_wheelhouse or links or args.index_url):
        log.warning("%s has no %s folder (a package built before iiswsgi"
                    " 0.4): nothing is installed with pip; the setup.py"
                    " commands install the project as 0.3 did, with the"
                    " packages already installed%s", directory, WHEELHOUSE,
                    " (the environment sees them)" if python !=
                    sys.executable else "")
    elif not args.no_install:
        installer = Installer(python, directory, links, args.index_url, env,
                              target)
        install_project(installer, directory, args.app_name)
        env[INSTALLED_VARIABLE] = "1"
    if os.path.isfile(os.path.join(directory, "setup.py")):
        command = [python, "setup.py"] + list(commands)
        status = _run(command, directory, env)
        if status:
            log.error("setup.py %s failed (exit status %d)",
                      " ".join(commands), status)
        return status
    if explicit:
        raise InstallError(
            "%s has no setup.py to run %s with" % (directory,
                                                   " ".join(commands)))
    _configure_site(directory, python, env, args.appcmd)
    return 0


def _configure_site(directory, python, env, appcmd):
    """install_msdeploy's job for a project without setup.py: web.config
    from web.config.in, and the FastCGI application registered."""
    from .register import register_applications
    from .webconfig import read_web_config, write_web_config
    template = os.path.join(directory, "web.config.in")
    output = os.path.join(directory, "web.config")
    variables = dict(env, APPL_PHYSICAL_PATH=directory, PYTHON_EXE=python,
                     PYTHON_HOME=os.path.dirname(python), SEP=os.sep,
                     DIST_NAME=declared_name(directory) or "")
    from .errors import PackageError
    try:
        if os.path.isfile(template):
            log.info("writing %s from %s", output, template)
            config = write_web_config(template, output, variables)
        elif os.path.isfile(output):
            config = read_web_config(output)
        else:
            log.warning("%s has no web.config.in or web.config: nothing to"
                        " register with IIS", directory)
            return
        register_applications(config, appcmd or env.get("IISWSGI_APPCMD"))
    except (PackageError, appcmd_module.AppcmdError) as error:
        raise InstallError(str(error)) from None


if __name__ == "__main__":
    sys.exit(main())
