"""Notice when the application's files change, so the process can exit
between requests and the web server can start a fresh one.

The work is off the request path: a daemon thread finds the change and
calls ``on_change`` (the server only sets its stop flag and, when idle,
wakes the main thread).  For a folder on a local disk the thread waits on
change notifications: on Windows ReadDirectoryChangesW (through
:mod:`iiswsgi.iis.winapi`), on Linux inotify (through
:mod:`iiswsgi.gateway.inotify`), so nothing runs while nothing changes.
Elsewhere, for network shares (whose notifications are unreliable) and
when notifications fail (on Linux: fs.inotify.max_user_watches reached),
it scans every ``interval`` seconds.  A scan skips the folders that hold
no source of the application (virtual environments, caches, version
control, node_modules, site-packages) and, while a request is being
served, lets it run between folders.
"""

import logging
import os
import re
import threading
import time
from typing import Callable, Dict, Optional, Tuple, Union

__all__ = ["DEFAULT_RESTART_REGEX", "Watcher", "skipped_folder"]

log = logging.getLogger(__name__)

#: wfastcgi's default: Python sources and IIS configuration files.
DEFAULT_RESTART_REGEX = r".*((\.py)|(\.config))$"

# Folders that hold no source the application runs, or only caches of it.
_SKIP_DIRS = frozenset(("__pycache__", ".git", ".hg", ".svn", ".tox",
                        ".nox", "node_modules", ".mypy_cache",
                        ".pytest_cache", "site-packages", "dist-packages"))

#: The file that makes a folder a virtual environment (PEP 405).
_VENV_MARKER = "pyvenv.cfg"

#: While a request is served, a scan pauses this long every
#: _ENTRIES_PER_PAUSE directory entries, so the request gets the GIL.
_PAUSE_SECONDS = 0.002
_ENTRIES_PER_PAUSE = 200

#: How long after the watcher thread starts waiting for notifications it
#: compares once with the baseline.
_CATCH_UP_SECONDS = 0.2


def skipped_folder(path: str, name: str) -> bool:
    """True for a folder whose files cannot matter to the application: a
    cache, version control, node_modules, site-packages, or a virtual
    environment (a folder holding pyvenv.cfg)."""
    if name in _SKIP_DIRS:
        return True
    return os.path.isfile(os.path.join(path, _VENV_MARKER))


def _first_difference(before: Dict[str, Tuple[int, int]],
                      current: Dict[str, Tuple[int, int]]
                      ) -> Optional[str]:
    """The first path changed, added (in ``current``) or gone (in
    ``before`` only), or None."""
    for path, stamp in current.items():
        if before.get(path) != stamp:
            return path
    for path in before:
        if path not in current:
            return path
    return None


def _skipped_path(root: str, relative: str) -> bool:
    """True when a folder on the way from ``root`` to ``relative`` (a path
    a change notification named) is one a scan skips."""
    parts = re.split(r"[\\/]", relative)
    folder = root
    for part in parts[:-1]:
        if skipped_folder(os.path.join(folder, part), part):
            return True
        folder = os.path.join(folder, part)
    return False


class Watcher:
    """Watches ``root`` in a daemon thread; calls ``on_change(relative
    path)`` once, for the first file whose relative path matches ``regex``
    (``re.match``) and that appeared, changed or went away.

    ``busy()``, when given, says whether a request is being served: a scan
    then pauses now and then to let it run.  ``notifications`` False
    forces scanning every ``interval`` seconds."""

    def __init__(self, root: str, regex: Union[str, re.Pattern[str]],
                 on_change: Callable[[str], None],
                 interval: float = 1.0,
                 busy: Optional[Callable[[], bool]] = None,
                 notifications: bool = True) -> None:
        self.root = os.path.abspath(root)
        self.regex = re.compile(regex) if isinstance(regex, str) else regex
        self.on_change = on_change
        self.interval = interval
        self.busy = busy
        self.notifications = notifications
        #: "notifications" or "scan", once started.
        self.method = None
        self._stopped = threading.Event()
        self._thread = None
        self._snapshot = None
        self._changes = None
        self._reported = False
        self._report_lock = threading.Lock()

    def scan(self, below: str = "") -> Dict[str, Tuple[int, int]]:
        """``{relative path: (mtime_ns, size)}`` of the files watched (only
        those in the folder ``below``, relative to the root, when given)."""
        found = {}
        match = self.regex.match
        root = self.root
        prefix = len(root) + 1
        pending = [os.path.join(root, below) if below else root]
        busy = self.busy
        seen = 0
        while pending:
            folder = pending.pop()
            try:
                entries = os.scandir(folder)
            except OSError:
                continue
            with entries:
                for entry in entries:
                    seen += 1
                    if busy is not None and not seen % _ENTRIES_PER_PAUSE:
                        if busy():
                            time.sleep(_PAUSE_SECONDS)
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if not skipped_folder(entry.path, entry.name):
                                pending.append(entry.path)
                            continue
                        relative = entry.path[prefix:]
                        if match(relative):
                            info = entry.stat()
                            found[relative] = (info.st_mtime_ns, info.st_size)
                    except OSError:
                        continue
        return found

    def changed(self) -> Optional[str]:
        """The first watched path that changed since the last call (or
        since :meth:`baseline`)."""
        current = self.scan()
        before, self._snapshot = self._snapshot, current
        if before is None:
            return None
        return _first_difference(before, current)

    def _folder_changed(self, folder):
        """The first watched path below ``folder`` (relative, ending in a
        separator: a folder that came or went) that differs from the
        snapshot."""
        if _skipped_path(self.root, folder):
            return None
        current = self.scan(folder.rstrip("\\/"))
        before = {path: stamp for path, stamp in self._snapshot.items()
                  if path.startswith(folder)}
        return _first_difference(before, current)

    def baseline(self) -> None:
        """Take the state changes are measured from, now (and, on Windows,
        start receiving notifications, so nothing from now on is
        missed)."""
        if self.notifications and self._changes is None:
            self._changes = _open_notifications(self.root)
        self._snapshot = self.scan()

    def start(self) -> None:
        """Watch from the baseline (taken now if :meth:`baseline` was not
        called)."""
        if self._snapshot is None:
            self.baseline()
        self.method = "notifications" if self._changes else "scan"
        log.info("watching %d files under %s for changes (%s, by %s)",
                 len(self._snapshot), self.root, self.regex.pattern,
                 "change notifications" if self._changes else
                 "a scan every %g s" % self.interval)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="iiswsgi-watcher")
        self._thread.start()

    def _report(self, path):
        """Call on_change once, whichever thread sees a change first."""
        with self._report_lock:
            if self._reported:
                return
            self._reported = True
        self.on_change(path)

    def _catch_up(self):
        """Notifications are kept only from the first wait for them on:
        once it has begun, compare with the baseline once, for what
        changed before (during the first request)."""
        if not self._stopped.wait(_CATCH_UP_SECONDS):
            path = self.changed()
            if path is not None:
                self._report(path)

    def _run(self):
        if self._changes is not None:
            if getattr(self._changes, "needs_catch_up", True):
                threading.Thread(target=self._catch_up, daemon=True,
                                 name="iiswsgi-watcher-catch-up").start()
            path = self._wait_for_notification()
            if path is not None:
                self._report(path)
                return
            if self._stopped.is_set():
                return
            # Notifications failed: scans compare with the baseline, so a
            # change since then is still seen.
            self.method = "scan"
        while not self._stopped.wait(self.interval):
            path = self.changed()
            if path is not None:
                self._report(path)
                return

    def _wait_for_notification(self):
        """The first watched path a notification names; None when the
        watcher stops or notifications fail (then logged)."""
        changes = self._changes
        match = self.regex.match
        try:
            while not self._stopped.is_set():
                for relative in changes.read():
                    if relative.endswith(("/", "\\")):
                        found = self._folder_changed(relative)
                        if found is not None:
                            return found
                    elif match(relative) and not _skipped_path(self.root,
                                                               relative):
                        return relative
        except OSError as error:
            if not self._stopped.is_set():
                log.warning("change notifications for %s failed (%s):"
                            " scanning every %g s instead", self.root, error,
                            self.interval)
        finally:
            changes.close()
        return None

    def stop(self) -> None:
        self._stopped.set()
        changes = self._changes
        if changes is not None:
            changes.cancel()
            if self._thread is None:    # nobody reads: nobody else closes
                changes.close()


def _open_notifications(root):
    """Change notifications for ``root`` (winapi.DirectoryChanges,
    inotify.FolderChanges), or None where there are none: neither Windows
    nor Linux, a network share, or a failure (logged)."""
    if os.name != "nt":
        return _open_inotify(root)
    from ..iis import winapi
    if not winapi.subtree_notifications():
        log.info("scanning %s for changes: change notifications here (Wine)"
                 " do not report changes below the top folder", root)
        return None
    if winapi.is_remote_path(root):
        log.info("%s is on a network share: scanning it for changes, as"
                 " notifications from shares are not reliable", root)
        return None
    try:
        return winapi.DirectoryChanges(root)
    except OSError as error:
        log.warning("cannot get change notifications for %s (%s): scanning"
                    " it instead", root, error)
        return None


def _open_inotify(root):
    """inotify watches on ``root``'s folders (Linux), or None: not Linux,
    a network file system, or a failure such as the watch limit (logged;
    the watcher scans)."""
    from . import inotify
    if not inotify.available():
        return None
    remote = inotify.remote_filesystem(root)
    if remote:
        log.info("%s is on a network file system (%s): scanning it for"
                 " changes, as inotify does not see changes made elsewhere",
                 root, remote)
        return None
    try:
        return inotify.FolderChanges(root, skipped_folder)
    except OSError as error:
        log.warning("cannot get change notifications for %s (%s): scanning"
                    " it instead", root, error)
        return None
