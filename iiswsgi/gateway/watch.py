"""Notice when the application's files change, so the process can exit
between requests and the web server can start a fresh one."""

import logging
import os
import re
import threading
from typing import Callable, Dict, Optional, Tuple, Union

__all__ = ["DEFAULT_RESTART_REGEX", "Watcher"]

log = logging.getLogger(__name__)

#: wfastcgi's default: Python sources and IIS configuration files.
DEFAULT_RESTART_REGEX = r".*((\.py)|(\.config))$"

# Folders that hold no source the application runs, or only caches of it.
_SKIP_DIRS = frozenset(("__pycache__", ".git", ".hg", ".svn", ".tox",
                        ".nox", "node_modules", ".mypy_cache",
                        ".pytest_cache"))


class Watcher:
    """Polls ``root`` every ``interval`` seconds in a daemon thread; calls
    ``on_change(relative_path)`` once, for the first file whose relative
    path matches ``regex`` (``re.match``) and that appeared, changed or
    went away."""

    def __init__(self, root: str, regex: Union[str, re.Pattern[str]],
                 on_change: Callable[[str], None],
                 interval: float = 1.0) -> None:
        self.root = os.path.abspath(root)
        self.regex = re.compile(regex) if isinstance(regex, str) else regex
        self.on_change = on_change
        self.interval = interval
        self._stopped = threading.Event()
        self._thread = None
        self._snapshot = None

    def scan(self) -> Dict[str, Tuple[int, int]]:
        """``{relative path: (mtime_ns, size)}`` of the files watched."""
        found = {}
        match = self.regex.match
        root = self.root
        prefix = len(root) + 1
        pending = [root]
        while pending:
            folder = pending.pop()
            try:
                entries = os.scandir(folder)
            except OSError:
                continue
            with entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if entry.name not in _SKIP_DIRS:
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
        """The first watched path that changed since the last call."""
        current = self.scan()
        before, self._snapshot = self._snapshot, current
        if before is None:
            return None
        for path, stamp in current.items():
            if before.get(path) != stamp:
                return path
        for path in before:
            if path not in current:
                return path
        return None

    def start(self) -> None:
        self._snapshot = self.scan()
        log.info("watching %d files under %s for changes (%s)",
                 len(self._snapshot), self.root, self.regex.pattern)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="iiswsgi-watcher")
        self._thread.start()

    def _run(self):
        while not self._stopped.wait(self.interval):
            path = self.changed()
            if path is not None:
                self.on_change(path)
                return

    def stop(self) -> None:
        self._stopped.set()
