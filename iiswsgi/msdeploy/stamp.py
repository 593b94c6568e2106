"""The install stamp (``iis_install.stamp``): the file a package ships so
that ``iiswsgi_install`` can find the folder Web Deploy copied it to, and
that ``clean_webpi`` looks for where an install did not finish.  This
module is the one search for it and the one rule of when one is trusted.

Both run in folders other people may write to (``iiswsgi_install`` as an
administrator), so a folder path with a ``..`` part is not searched, and a
stamp that is a symbolic link (or another reparse point), a hard link or
not a regular file is ignored with a warning.

A package built by ``iiswsgi package`` (or ``bdist_msdeploy``) carries a
random *build token*: its stamp holds the line ``iiswsgi-build-token:
<64 lowercase hex digits>`` and its ``<runCommand>`` passes the same
token to ``iiswsgi_install --build-token``.  :func:`read_build_token` reads
it, without following a link, from at most :data:`STAMP_LIMIT` bytes.
"""

import hmac
import logging
import os
import re
import stat
from typing import Callable, Iterable, Iterator, List, Optional, Tuple


__all__ = ["BUILD_TOKEN_LINE", "STAMP", "STAMP_LIMIT", "STAMP_TEMPLATE",
           "folder_problem", "has_parent_part", "is_build_token",
           "read_build_token", "same_token", "search_stamps", "stale_stamps",
           "stamp_mtime", "stamp_problem"]

log = logging.getLogger("iiswsgi.msdeploy.stamp")

STAMP = "iis_install.stamp"
STAMP_TEMPLATE = STAMP + ".in"
#: How much of a stamp is read: a stamp is a few lines.
STAMP_LIMIT = 64 * 1024
#: The line of a stamp that carries the package's build token.
BUILD_TOKEN_LINE = re.compile(
    r"^iiswsgi-build-token:[ \t]*([0-9a-f]{64})[ \t]*\r?$", re.MULTILINE)
_TOKEN = re.compile(r"[0-9a-f]{64}\Z")
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_BINARY", 0))


def has_parent_part(path: str) -> bool:
    """True when ``path`` has a ``..`` part (``\\`` or ``/`` separated)."""
    return ".." in re.split(r"[\\/]+", path)


def folder_problem(path: str) -> Optional[str]:
    """Why the folder ``path`` must not be searched for a stamp, or None:
    it has a ``..`` part, or is not a directory."""
    if has_parent_part(path):
        return "it has a '..' part"
    if not os.path.isdir(path):
        return "it is not a directory"
    return None


def stamp_problem(directory: str, name: str = STAMP) -> Optional[str]:
    """Why the stamp ``name`` in ``directory`` must not be trusted, or
    None when it is a plain file of its own there.  FileNotFoundError when
    there is none."""
    try:
        info = os.lstat(os.path.join(directory, name))
    except FileNotFoundError:
        raise
    except OSError as error:
        return "it cannot be examined (%s)" % error
    if stat.S_ISLNK(info.st_mode) or getattr(
            info, "st_file_attributes", 0) & getattr(
            stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0):
        return "it is a symbolic link (or another reparse point)"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_nlink > 1:
        return "it is a hard link to a file that is also elsewhere"
    return None


def stamp_mtime(directory: str, name: str = STAMP) -> Optional[float]:
    """The modification time of the stamp in ``directory``, or None when
    there is none or it is not trusted (a warning says why)."""
    path = os.path.join(directory, name)
    try:
        problem = stamp_problem(directory, name)
    except FileNotFoundError:
        log.debug("%s: no %s", directory, name)
        return None
    if problem:
        log.warning("ignoring %s: %s", path, problem)
        return None
    try:
        return os.lstat(path).st_mtime
    except OSError as error:            # removed in between
        log.debug("%s: %s", path, error)
        return None


def search_stamps(folders: Iterable[str], name: str = STAMP
                  ) -> Iterator[Tuple[str, Optional[float]]]:
    """(folder, the modification time of its trusted stamp or None) for
    each of ``folders`` that may be searched, in order; the others are
    skipped, with a warning for one that exists."""
    for folder in folders:
        problem = folder_problem(folder)
        if problem:
            if os.path.lexists(folder):
                log.warning("not searching %s: %s", folder, problem)
            continue
        yield folder, stamp_mtime(folder, name)


def stale_stamps(app_names: Iterable[str], list_sites: Callable[[], list],
                 stamp: str = STAMP) -> List[str]:
    """The trusted install stamps (file name ``stamp``) left in the
    folders of the IIS applications named ``app_names`` (the package's
    ``<iisApp path>``; IIS's numbered copies such as ``MyApp2`` included);
    ``list_sites`` returns :class:`iiswsgi.iis.appcmd.Site` objects.  A stamp
    left behind means an install that did not finish, and would mislead
    the next ``iiswsgi_install``."""
    patterns = [re.compile(r"^%s\d*$" % re.escape(name), re.IGNORECASE)
                for name in app_names if name]

    def named(application, directory):
        last = application.path.rstrip("/").rsplit("/", 1)[-1]
        base = os.path.basename(
            directory.expanded_path.replace("\\", "/").rstrip("/"))
        return any(p.match(last) or p.match(base) for p in patterns)
    # Imported here: the packaging commands import this module for STAMP
    # alone, and iiswsgi.iis.apphost takes a few hundredths of a second.
    from ..iis.apphost import expanded_paths
    folders = list(expanded_paths(list_sites(), keep=named))
    return [os.path.join(folder, stamp) for folder, mtime
            in search_stamps(folders, stamp) if mtime is not None]


def is_build_token(text: str) -> bool:
    """True when ``text`` is a build token: 64 lowercase hex digits."""
    return bool(_TOKEN.match(text))


def same_token(one: Optional[str], other: Optional[str]) -> bool:
    """True when both are tokens and equal (compared in constant time)."""
    return bool(one and other) and hmac.compare_digest(
        one.encode("ascii", "replace"), other.encode("ascii", "replace"))


def read_build_token(directory: str, name: str = STAMP) -> Optional[str]:
    """The build token of the trusted stamp ``name`` in ``directory``
    (its ``iiswsgi-build-token:`` line), or None when it has none, or it
    is missing, not trusted (:func:`stamp_problem`) or unreadable.  Never
    read through a link; at most :data:`STAMP_LIMIT` bytes."""
    path = os.path.join(directory, name)
    try:
        if stamp_problem(directory, name):
            return None
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                return None
            data = stream.read(STAMP_LIMIT)
    except OSError as error:
        log.warning("cannot read %s: %s", path, error)
        return None
    found = BUILD_TOKEN_LINE.findall(data.decode("utf-8", "replace"))
    if len(set(found)) > 1:
        log.warning("ignoring %s: it has %d different build tokens", path,
                    len(set(found)))
        return None
    return found[0] if found else None
