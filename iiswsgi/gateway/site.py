"""The site's folder, as the request names it: where the gateway watches
for changes and hosting reads web.config.  Without flup, so hosting can
import it in any interpreter."""

import os
from typing import Mapping

from .environ import filesystem_path

__all__ = ["site_folder"]


def site_folder(environ: Mapping[str, str]) -> str:
    """The site's folder: the request's APPL_PHYSICAL_PATH, else the
    working directory; without a trailing separator."""
    folder = filesystem_path(environ.get("APPL_PHYSICAL_PATH")) or (
        os.getcwd())
    return folder.rstrip("\\/") or folder
