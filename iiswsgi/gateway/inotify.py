"""Linux change notifications for the restart watcher: inotify, through
libc with ctypes, one watch per folder a scan would visit, so the watcher
thread sleeps in poll() until something changes instead of scanning.

Linux only, and the only Linux-only code of the watcher:
:func:`available` says whether it can be used here, and
:class:`FolderChanges` raises OSError when it cannot watch (no inotify,
fs.inotify.max_user_watches reached): the watcher then scans
(:mod:`iiswsgi.gateway.watch`).  The object offers what
``iiswsgi.iis.winapi.DirectoryChanges`` offers on Windows: ``read()``,
``cancel()``, ``close()``.
"""

import ctypes
import errno
import logging
import os
import re
import select
import stat
import struct
import sys
import threading
from typing import Callable, Dict, List, Optional

__all__ = ["FolderChanges", "available", "remote_filesystem"]

log = logging.getLogger(__name__)

# <sys/inotify.h>
_IN_ATTRIB = 0x00000004
_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_FROM = 0x00000040
_IN_MOVED_TO = 0x00000080
_IN_CREATE = 0x00000100
_IN_DELETE = 0x00000200
_IN_DELETE_SELF = 0x00000400
_IN_MOVE_SELF = 0x00000800
_IN_UNMOUNT = 0x00002000
_IN_Q_OVERFLOW = 0x00004000
_IN_IGNORED = 0x00008000
_IN_ONLYDIR = 0x01000000
_IN_DONT_FOLLOW = 0x02000000
_IN_ISDIR = 0x40000000

# A file counts once it is written and closed (not at its first write,
# which would restart on a half-written module), renamed into place,
# touched, or deleted; a folder when it comes or goes.  IN_CREATE is
# needed for new folders (and for links, which are never written).
_MASK = (_IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO
         | _IN_CREATE | _IN_DELETE | _IN_DELETE_SELF | _IN_MOVE_SELF
         | _IN_ONLYDIR | _IN_DONT_FOLLOW)

_EVENT = struct.Struct("iIII")          # wd, mask, cookie, len; then name
_READ_SIZE = 64 * 1024

# File systems whose changes made elsewhere (by another machine) inotify
# does not see: a folder on one of them is scanned.
_REMOTE_TYPES = frozenset((
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph",
    "glusterfs", "lustre", "gpfs", "fuse.sshfs", "fuse.glusterfs",
    "fuse.s3fs", "fuse.rclone", "davfs", "fuse.davfs2", "vboxsf",
    "fuse.vmhgfs-fuse", "virtiofs"))

_libc = None


def _library():
    """libc with inotify_init1/inotify_add_watch/inotify_rm_watch, or
    None."""
    global _libc
    if _libc is None:
        # The process's own symbols hold libc's: no ctypes.util.find_library,
        # which runs ldconfig (a process, and shutil and tempfile imported)
        # at the first request.
        libc = False
        for name in (None, "libc.so.6"):
            try:
                found = ctypes.CDLL(name, use_errno=True)
                for function in ("inotify_init1", "inotify_add_watch",
                                 "inotify_rm_watch"):
                    getattr(found, function)
            except (OSError, AttributeError):
                continue
            libc = found
            break
        if libc:
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_init1.restype = ctypes.c_int
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p,
                                               ctypes.c_uint32]
            libc.inotify_add_watch.restype = ctypes.c_int
            libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.inotify_rm_watch.restype = ctypes.c_int
        _libc = libc
    return _libc or None


def available() -> bool:
    """True on Linux with a libc that has inotify."""
    return sys.platform.startswith("linux") and _library() is not None


def remote_filesystem(path: str) -> Optional[str]:
    """The type of the network file system ``path`` is on (from
    /proc/self/mounts: the longest mount point above it), or None for a
    local one."""
    real = os.path.realpath(path)
    best, kind = "", None
    try:
        with open("/proc/self/mounts", "rb") as mounts:
            lines = mounts.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        inside = (real == point or point == "/"
                  or real.startswith(point.rstrip("/") + "/"))
        if inside and len(point) >= len(best):
            best, kind = point, os.fsdecode(fields[2])
    return kind if kind in _REMOTE_TYPES else None


def _unescape(field):
    """A field of /proc/self/mounts: spaces and the like are octal
    escapes there."""
    return os.fsdecode(re.sub(rb"\\([0-7]{3})",
                              lambda m: bytes((int(m.group(1), 8),)), field))


def _os_error(code: int, what: str, path: str) -> OSError:
    return OSError(code, "%s: %s" % (what, os.strerror(code)), path)


class FolderChanges:
    """inotify watches on ``root`` and every folder below it that
    ``skip(path, name)`` does not rule out; new folders are watched as
    they come.

    :meth:`read` waits and returns the changed paths, relative to
    ``root``; a folder that came or went is named with a trailing
    ``os.sep`` (the caller compares what it knew under it).  No catch-up
    is needed: changes queue from the moment the watches are set."""

    #: Changes since the watches were set are queued, none missed.
    needs_catch_up = False

    def __init__(self, root: str, skip: Callable[[str, str], bool]) -> None:
        libc = _library()
        if libc is None:
            raise OSError(errno.ENOSYS, "inotify is not available here", root)
        self.root = root
        self._skip = skip
        self._libc = libc
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            if code == errno.EMFILE:
                raise OSError(code, "inotify_init1: fs.inotify."
                              "max_user_instances reached (raise it with"
                              " sysctl)", root)
            raise _os_error(code, "inotify_init1", root)
        self._fd = fd
        try:
            self._wake_read, self._wake_write = os.pipe2(os.O_CLOEXEC
                                                         | os.O_NONBLOCK)
        except OSError:
            os.close(fd)
            raise
        self._folders: Dict[int, str] = {}   # wd -> relative folder
        self._closed = False
        self._cancelled = False
        # cancel() (any thread) must not write to a descriptor close()
        # (the reading thread) has just given back for reuse.
        self._lock = threading.Lock()
        try:
            self._root_wd = self._add(root, "", required=True)
            self._watch_below("")
        except BaseException:
            self.close()
            raise

    @property
    def watches(self) -> int:
        """How many folders are watched."""
        return len(self._folders)

    def _add(self, path, relative, required=False):
        """Watch one folder; its wd, or None when it went away or cannot
        be read (as a scan skips it).  OSError when the user's watch limit
        is reached."""
        # The root may be a link to the site's folder (as a scan follows
        # it); below it, links to folders are not followed, as by a scan.
        mask = _MASK & ~_IN_DONT_FOLLOW if required else _MASK
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), mask)
        if wd < 0:
            code = ctypes.get_errno()
            if code == errno.ENOSPC:
                raise OSError(code, "inotify_add_watch: fs.inotify."
                              "max_user_watches (%s) reached after %d folders"
                              " of this site: raise it (sysctl -w"
                              " fs.inotify.max_user_watches=N)"
                              % (_max_user_watches(), len(self._folders)),
                              path)
            if required or code not in (errno.ENOENT, errno.ENOTDIR,
                                        errno.EACCES, errno.ELOOP):
                raise _os_error(code, "inotify_add_watch", path)
            return None
        self._folders[wd] = relative
        return wd

    def _path(self, relative):
        return os.path.join(self.root, relative) if relative else self.root

    def _watch_below(self, relative):
        """Watch the folders below ``relative`` (already watched)."""
        pending = [relative]
        while pending:
            folder = pending.pop()
            try:
                entries = os.scandir(self._path(folder))
            except OSError:
                continue
            with entries:
                for entry in entries:
                    try:
                        if not entry.is_dir(follow_symlinks=False):
                            continue
                    except OSError:
                        continue
                    if self._skip(entry.path, entry.name):
                        continue
                    below = os.path.join(folder, entry.name) if folder \
                        else entry.name
                    if self._add(entry.path, below) is not None:
                        pending.append(below)

    def _forget_below(self, relative):
        """Stop watching ``relative`` and what is below it (it moved
        away: its watches would name it by its old path)."""
        prefix = relative + os.sep
        for wd, folder in list(self._folders.items()):
            if folder == relative or folder.startswith(prefix):
                del self._folders[wd]
                self._libc.inotify_rm_watch(self._fd, wd)

    def read(self) -> List[str]:
        """Wait for the next changes; the paths they name, relative to the
        root.  OSError when cancelled, when the root itself went away, or
        when changes came too fast for the kernel's queue (the caller then
        compares with a scan)."""
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        while True:
            if self._cancelled or self._closed:
                raise OSError(errno.ECANCELED, "change notifications were"
                              " cancelled", self.root)
            ready = {fd for fd, _ in poller.poll()}
            if self._wake_read in ready:
                continue
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                continue
            paths = self._parse(data)
            if paths:
                return paths

    def _parse(self, data):
        paths = []
        offset, size = 0, len(data)
        header = _EVENT.size
        while offset + header <= size:
            wd, mask, _, length = _EVENT.unpack_from(data, offset)
            name = os.fsdecode(data[offset + header:offset + header + length]
                               .rstrip(b"\0"))
            offset += header + length
            if mask & _IN_Q_OVERFLOW:
                raise OSError(errno.EOVERFLOW, "more changes than the kernel's"
                              " inotify queue holds", self.root)
            if wd == self._root_wd and mask & (_IN_DELETE_SELF | _IN_MOVE_SELF
                                               | _IN_UNMOUNT | _IN_IGNORED):
                raise OSError(errno.ENOENT, "the watched folder was moved,"
                              " deleted or unmounted", self.root)
            folder = self._folders.get(wd)
            if folder is None or not name:
                if mask & _IN_IGNORED:
                    self._folders.pop(wd, None)
                continue        # a folder's own events: its parent names it
            relative = os.path.join(folder, name) if folder else name
            if mask & _IN_ISDIR:
                path = os.path.join(self.root, relative)
                if mask & (_IN_MOVED_FROM | _IN_DELETE):
                    self._forget_below(relative)
                elif mask & (_IN_CREATE | _IN_MOVED_TO):
                    if self._skip(path, name):
                        continue
                    # Watched before the caller looks inside, so a file
                    # made in it meanwhile is either seen there or read
                    # as an event.
                    if self._add(path, relative) is not None:
                        self._watch_below(relative)
                else:
                    continue
                paths.append(relative + os.sep)
                continue
            if mask & _IN_CREATE and not _created_unwritten(
                    os.path.join(self.root, relative)):
                continue        # its IN_CLOSE_WRITE follows
            paths.append(relative)
        return paths

    def cancel(self) -> None:
        """End a :meth:`read` waiting in another thread (it raises)."""
        with self._lock:
            self._cancelled = True
            if not self._closed:
                try:
                    os.write(self._wake_write, b"x")
                except OSError:
                    pass

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for fd in (self._fd, self._wake_read, self._wake_write):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._folders.clear()


def _created_unwritten(path):
    """True for a new entry no IN_CLOSE_WRITE will follow: a symbolic
    link, a hard link to an existing file, a special file, or one gone
    already."""
    try:
        info = os.lstat(path)
    except OSError:
        return True
    return not stat.S_ISREG(info.st_mode) or info.st_nlink > 1


def _max_user_watches():
    try:
        with open("/proc/sys/fs/inotify/max_user_watches") as f:
            return f.read().strip()
    except OSError:
        return "?"
