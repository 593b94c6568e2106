"""Configuration files read once, and again when they change, with the
merge of each set of scopes that apply; and the effective configuration of
a path under an application, found as IIS finds it (a web.config in each
folder on the way)."""

import os
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import ConfigError
from .files import ConfigFile, applicable_scopes, find_web_config, \
    read_config_file
from .merge import merge_scopes
from .sections import Configuration

__all__ = ["ConfigCache", "configuration_for"]


class ConfigCache:
    """Configuration files read once, and again when they change."""

    def __init__(self) -> None:
        self._files: Dict[str, Tuple[int, ConfigFile]] = {}
        self._merged: Dict[tuple, tuple] = {}

    # Merged configurations kept before the oldest are dropped.
    KEEP = 256

    def merge(self, levels: Sequence[Tuple[ConfigFile, str]],
              child_application_levels: int = 0) -> Configuration:
        """:func:`~.merge.merge` of ``levels``, computed once for each set
        of scopes that apply (the same for every file under one folder)."""
        scopes = applicable_scopes(levels, child_application_levels)
        key = (child_application_levels,) + tuple(
            id(config_file) for config_file, _ in levels) + tuple(
            id(scope) for _, scope in scopes)
        found = self._merged.get(key)
        if found is None:
            if len(self._merged) >= self.KEEP:
                self._merged.clear()
            # The levels are kept with the result, so the ids stay theirs.
            found = self._merged[key] = (levels, merge_scopes(
                [config_file.path for config_file, _ in levels], scopes))
        return found[1]

    def levels(self, folder: str, parts: Sequence[str],
               last: Optional[int] = None) -> List[Tuple[ConfigFile, str]]:
        """The web.config files IIS reads on the way to ``parts`` (a path's
        segments) under ``folder``: (ConfigFile, the rest of the path under
        its folder) for ``folder`` and each sub-folder along ``parts``, down
        to the one of ``parts[:last]`` (all of them by default) or the
        first that is not a folder (the last segment is a file, or a
        folder with its own)."""
        found = []
        if last is None:
            last = len(parts)
        for index in range(last + 1):
            if index:
                folder = os.path.join(folder, parts[index - 1])
                if not os.path.isdir(folder):
                    break
            path = find_web_config(folder)
            config_file = self.read(path) if path else None
            if config_file is not None:
                found.append((config_file, "/".join(parts[index:])))
        return found

    def read(self, path: str,
             what: str = "web.config") -> Optional[ConfigFile]:
        """The parsed file at ``path``, or None when there is none."""
        try:
            stamp = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return None
        except OSError as error:
            raise ConfigError("cannot be read: %s" % (error.strerror or error),
                              path) from None
        cached = self._files.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        parsed = read_config_file(path, what)
        self._files[path] = (stamp, parsed)
        self._merged.clear()
        return parsed


def configuration_for(app_dir: str, relative: str = "",
                      cache: Optional[ConfigCache] = None) -> Configuration:
    """The effective configuration of ``relative`` (a "/"-separated path
    under the application, without a leading slash) in the application
    whose folder is ``app_dir``: its web.config, then each sub-folder's on
    the way to the folder of ``relative``'s last segment."""
    cache = cache or ConfigCache()
    return cache.merge(cache.levels(
        app_dir, [part for part in relative.split("/") if part]))
