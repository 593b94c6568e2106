"""WebPI's download caches on this machine: where they are
(:func:`default_cache_root`) and removing what it cached of some products
and feeds (:func:`clean_cache`), so the next install downloads them
again."""

import logging
import os
import shutil
from typing import Iterable, List, Mapping, Optional

from .reader import feed_id_of

__all__ = ["CACHE_SUBPATH", "clean_cache", "default_cache_root",
           "remove_files"]

log = logging.getLogger("iiswsgi.webpi.cache")

CACHE_SUBPATH = os.path.join("Microsoft", "Web Platform Installer")


def default_cache_root(
        environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """``%LOCALAPPDATA%\\Microsoft\\Web Platform Installer``, or None when
    LOCALAPPDATA is not set (not Windows)."""
    env = os.environ if environ is None else environ
    base = env.get("LOCALAPPDATA")
    return os.path.join(base, CACHE_SUBPATH) if base else None


def _remove(path: str, dry_run: bool) -> None:
    if dry_run:
        log.debug("would remove %s", path)
        return
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    log.debug("removed %s", path)


def clean_cache(root: str, product_ids: Iterable[str],
                feed_ids: Iterable[Optional[str]],
                dry_run: bool = False) -> List[str]:
    """Remove WebPI's cached downloads of ``product_ids``
    (``installers\\<productId>``, names compared in any case) and its
    cached copies of the feeds whose ``<id>`` is in ``feed_ids`` (the
    ``*.xml`` files directly in ``root``).  With ``dry_run`` nothing is
    removed.  The paths removed (or that would be)."""
    if not os.path.isdir(root):
        log.info("no WebPI cache at %s: nothing to clean", root)
        return []
    removed = []
    installers = os.path.join(root, "installers")
    cached = os.listdir(installers) if os.path.isdir(installers) else []
    for product in product_ids:
        matches = [name for name in cached if name.lower() == product.lower()]
        if not matches:
            log.info("%s: no cached download in %s", product, installers)
        for name in matches:
            path = os.path.join(installers, name)
            _remove(path, dry_run)
            removed.append(path)
    wanted = {feed_id for feed_id in feed_ids if feed_id}
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if not name.lower().endswith(".xml") or not os.path.isfile(path):
            continue
        if feed_id_of(path) in wanted:
            _remove(path, dry_run)
            removed.append(path)
    if wanted and not any(path.lower().endswith(".xml") for path in removed):
        log.info("no cached copy of the feed %s in %s",
                 ", ".join(sorted(wanted)), root)
    return removed


def remove_files(paths: Iterable[str], dry_run: bool = False) -> List[str]:
    """Remove each of ``paths`` (or log that it would); the paths."""
    paths = list(paths)
    for path in paths:
        _remove(path, dry_run)
    return paths
