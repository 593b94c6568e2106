"""``iiswsgi_install``: the command a package's ``<runCommand>`` runs after
Web Deploy has copied the application.

Web Deploy tells the command nothing about the application it installs (the
current directory is system32; no argument or variable names the site), so
the application directory is found: ``APPL_PHYSICAL_PATH`` when set, else
the IIS sites (``appcmd list config /section:system.applicationHost/sites
/xml``) are searched for a directory holding the ``iis_install.stamp`` the
package ships.  Search order, newest first: sites by id, highest first;
within a site, applications in reverse document order (IIS appends new
ones); within an application, its virtual directories as listed.  Of
several matches the one whose stamp is newest (by modification time; the
search order breaks ties) wins, with a warning.

The stamp is then removed (unless ``-i``), a virtual environment is
optionally made in the application directory (``-e``) and the application
installed into it, and ``setup.py`` is run there with the given commands
(default ``install_msdeploy test_msdeploy``).  Everything is also logged to
``iiswsgi_install.log`` in the application directory, since Web Deploy
swallows the output.

The command runs as an administrator, in folders other people may write
to, so nothing there is followed out of the site: a folder path with a
``..`` part is refused; ``APPL_PHYSICAL_PATH`` must resolve inside one of
the IIS sites' folders (when appcmd can list them); a stamp that is a
symbolic link, a hard link or not a regular file is ignored (with a
warning), and a site folder with a ``..`` part is not searched (the rules
of :mod:`.stamp`, which clean_webpi follows too); the log is never written
through a link.
"""

import argparse
import logging
import os
import re
import subprocess
import sys
import sysconfig
from typing import Iterable, List, Mapping, Optional, Sequence, Union

from ..errors import IISWSGIError
from ..files import is_within
from ..iis import appcmd as appcmd_module
from ..iis.appcmd import Site
from ..iis.apphost import expanded_paths
from ..logs import open_log_file
from .stamp import (STAMP, folder_problem, has_parent_part, search_stamps,
                    stamp_problem)

__all__ = ["InstallError", "create_virtualenv", "find_app_directory",
           "main", "search_order"]

log = logging.getLogger("iiswsgi.msdeploy.install")

LOG_NAME = "iiswsgi_install.log"
DEFAULT_COMMANDS = ["install_msdeploy", "test_msdeploy"]


class InstallError(IISWSGIError):
    """The application cannot be found or installed."""


def site_folders(sites: Iterable[Site]) -> List[str]:
    """Every physical folder of ``sites`` (expanded), without duplicates."""
    return list(expanded_paths(sites))


def _folder_problem(path, folders):
    """Why the application folder ``path`` must not be used, or None:
    it has a ``..`` part, is not a folder, or resolves outside every one
    of the site ``folders`` (when they are known: not None)."""
    problem = folder_problem(path)
    if problem or folders is None:
        return problem
    real = os.path.realpath(path)
    for folder in folders:
        if not has_parent_part(folder) and is_within(
                real, os.path.realpath(folder)):
            return None
    return ("it resolves to %s, outside the folders of the IIS sites"
            " (through a symbolic link or junction)" % real)


def search_order(sites: Sequence[Site]) -> List[str]:
    """The expanded physical paths of ``sites`` (from
    :func:`iiswsgi.iis.appcmd.list_sites`), newest application first."""
    return list(expanded_paths(sites, newest_first=True))


def _normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_name(directory: str, python: Optional[str] = None) -> Optional[str]:
    """The distribution name ``setup.py --name`` prints in ``directory``,
    or None."""
    if not os.path.isfile(os.path.join(directory, "setup.py")):
        return None
    try:
        result = subprocess.run(
            [python or sys.executable, "setup.py", "--name"], cwd=directory,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        log.warning("%s: setup.py --name failed: %s", directory, error)
        return None
    lines = result.stdout.strip().splitlines()
    return lines[-1].strip() if result.returncode == 0 and lines else None


def find_app_directory(app_name: Optional[str] = None,
                       appcmd: Union[str, Sequence[str], None] = None,
                       environ: Optional[Mapping[str, str]] = None,
                       require_stamp: bool = True) -> str:
    """The application directory, as the module docstring says.  Without
    ``require_stamp`` (``-i``) and with ``app_name``, a directory whose
    setup.py names that dist is a match even when its stamp is gone."""
    env = os.environ if environ is None else environ
    given = env.get("APPL_PHYSICAL_PATH")
    if given:
        return _given_directory(given, appcmd, env)
    try:
        sites = appcmd_module.list_sites(appcmd, env)
    except appcmd_module.AppcmdError as error:
        raise InstallError(
            "APPL_PHYSICAL_PATH is not set and the IIS sites cannot be"
            " listed: %s" % error) from None
    searched, found = search_order(sites), []
    for path, mtime in search_stamps(searched):
        stamped = mtime is not None
        if not stamped and (require_stamp or not app_name):
            continue
        if app_name:
            name = dist_name(path)
            if name is None or _normalize(name) != _normalize(app_name):
                log.info("%s has a stamp but its setup.py names %s, not %s",
                         path, name, app_name)
                continue
        found.append((path, mtime if stamped else 0))
    if not found:
        raise InstallError(
            "found no %s%s in the IIS application directories appcmd"
            " lists; searched: %s" % (
                STAMP, " of a dist named %s" % app_name if app_name else "",
                ", ".join(searched) or "(no virtual directories at all)"))
    best = max(found, key=lambda item: item[1])
    if len(found) > 1:
        log.warning("several application directories hold %s: %s;"
                    " choosing the newest stamp: %s", STAMP,
                    ", ".join(path for path, _ in found), best[0])
    return best[0]


def _given_directory(given, appcmd, env):
    """APPL_PHYSICAL_PATH, checked against the IIS sites when appcmd can
    list them."""
    try:
        folders = site_folders(appcmd_module.list_sites(appcmd, env))
    except appcmd_module.AppcmdError as error:
        log.info("APPL_PHYSICAL_PATH cannot be checked against the IIS"
                 " sites: %s", error)
        folders = None
    problem = _folder_problem(given, folders)
    if problem:
        raise InstallError("refusing APPL_PHYSICAL_PATH %s: %s"
                           % (given, problem))
    log.info("APPL_PHYSICAL_PATH is set: %s", given)
    return given


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


def _venv_python(directory):
    if os.name == "nt":
        return os.path.join(directory, "Scripts", "python.exe")
    return os.path.join(directory, "bin", "python")


def create_virtualenv(directory: str, with_pip: bool = False) -> str:
    """Make a virtual environment in ``directory`` that also sees this
    Python's packages (iiswsgi and whatever was installed with it); its
    python.  The ``virtualenv`` package is used when installed, else the
    standard library's venv."""
    try:
        import virtualenv  # noqa: F401
        command = [sys.executable, "-m", "virtualenv",
                   "--system-site-packages", directory]
        if not with_pip:
            command[3:3] = ["--no-pip", "--no-setuptools", "--no-wheel"]
        log.info("creating a virtualenv: %s", " ".join(command))
        subprocess.run(command, check=True)
    except ImportError:
        import venv
        log.info("creating a venv in %s", directory)
        venv.create(directory, system_site_packages=True, with_pip=with_pip)
    python = _venv_python(directory)
    if sys.prefix != sys.base_prefix:
        # This Python is itself a virtual environment: its packages are
        # not the base's system site-packages, so point at them.
        purelib = subprocess.run(
            [python, "-c", "import sysconfig;"
             "print(sysconfig.get_paths()['purelib'])"], check=True,
            stdout=subprocess.PIPE, text=True).stdout.strip()
        parents = [sysconfig.get_paths()["purelib"]]
        line = "import site; " + "; ".join(
            "site.addsitedir(%r)" % path for path in parents)
        with open(os.path.join(purelib, "_iiswsgi_parent.pth"), "w") as pth:
            pth.write(line + "\n")
    return python


def _run(command, cwd, env):
    """Run ``command``, its output logged line by line; its exit status."""
    log.info("running %s in %s", subprocess.list2cmdline(command), cwd)
    process = subprocess.Popen(command, cwd=cwd, env=env,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               errors="replace")
    for line in process.stdout:
        log.info("| %s", line.rstrip("\n"))
    return process.wait()


def _parser():
    parser = argparse.ArgumentParser(
        prog="iiswsgi_install",
        description=__doc__.split("\n\n")[0].replace("``", ""),
        epilog="Any other arguments are the setup.py commands to run"
               " (default: %s)." % " ".join(DEFAULT_COMMANDS))
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-vv: debug)")
    parser.add_argument("-a", "--app-name",
                        help="only an application whose setup.py names this"
                             " distribution")
    parser.add_argument("-i", "--ignore-stamp", action="store_true",
                        help="run even when the iis_install.stamp is gone"
                             " (with -a, the search then matches by dist"
                             " name alone), and leave it in place")
    parser.add_argument("-e", "--virtualenv", action="store_true",
                        help="make a virtual environment in the application"
                             " directory and install the application in it")
    parser.add_argument("--venv-pip", action="store_true",
                        help="with -e, install pip in the environment too")
    parser.add_argument("--appcmd", metavar="PATH",
                        help="appcmd.exe (default: %%IIS_BIN%%\\appcmd.exe,"
                             " else %%WINDIR%%\\System32\\inetsrv\\"
                             "appcmd.exe)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args, commands = parser.parse_known_args(argv)
    unknown = [word for word in commands if word.startswith("-")]
    if unknown:
        parser.error("unknown option(s) %s (setup.py commands come after"
                     " the options; pass setup.py options with --)"
                     % " ".join(unknown))
    commands = commands or list(DEFAULT_COMMANDS)
    level = max(logging.DEBUG, logging.WARNING - 10 * args.verbose)
    root = logging.getLogger()
    root.setLevel(min(level, logging.INFO))
    console = logging.StreamHandler()
    console.setLevel(level)
    console.setFormatter(logging.Formatter("iiswsgi_install: %(message)s"))
    root.addHandler(console)
    try:
        return _install(args, commands, root)
    except InstallError as error:
        log.error("%s", error)
        return 1
    finally:
        root.removeHandler(console)


def _install(args, commands, root):
    directory = find_app_directory(args.app_name, args.appcmd,
                                   require_stamp=not args.ignore_stamp)
    directory = os.path.abspath(directory)
    handler = _open_log(os.path.join(directory, LOG_NAME))
    handler.setLevel(logging.DEBUG if args.verbose > 1 else logging.INFO)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    try:
        log.info("installing the application in %s", directory)
        stamp = os.path.join(directory, STAMP)
        try:
            problem = stamp_problem(directory)
        except FileNotFoundError:
            if not args.ignore_stamp:
                raise InstallError(
                    "no %s in %s: it has been installed already (run with"
                    " -i to install again)" % (STAMP, directory)) from None
        else:
            if problem and not args.ignore_stamp:
                raise InstallError("refusing %s: %s" % (stamp, problem))
            if problem:
                log.warning("leaving %s alone: %s", stamp, problem)
            elif not args.ignore_stamp:
                # Removed whatever happens next: we tried.
                os.unlink(stamp)
                log.info("removed %s", stamp)
        env = dict(os.environ, APPL_PHYSICAL_PATH=directory)
        python = sys.executable
        if args.virtualenv:
            python = create_virtualenv(directory, args.venv_pip)
            status = _run([python, "setup.py", "develop"], directory, env)
            if status:
                raise InstallError("installing the application into the"
                                   " virtual environment failed (exit"
                                   " status %d)" % status)
        if args.appcmd:
            env["IISWSGI_APPCMD"] = os.path.abspath(args.appcmd)
        status = _run([python, "setup.py"] + commands, directory, env)
        if status:
            log.error("setup.py %s failed (exit status %d); see %s",
                      " ".join(commands), status,
                      os.path.join(directory, LOG_NAME))
        else:
            log.info("done")
        return status
    finally:
        root.removeHandler(handler)
        handler.close()
        handler.stream.close()


if __name__ == "__main__":
    sys.exit(main())
