"""The setup.py commands (``distutils.commands`` entry points), one module
each, and the setup() keywords they read.  Each command is glue: options
declared once, the work done by :mod:`iiswsgi.msdeploy`."""

import os
from distutils import log
from typing import Any, Dict

__all__ = ["INFO", "dist_variables"]

# The level of the commands' messages (``self.announce(message, INFO)``):
# distutils' own (2) where distutils.log is the old module (setuptools 65),
# logging.INFO (20) where it is a front for logging (setuptools 81), whose
# default threshold drops anything below INFO, the old 2 included.
INFO = log.INFO


def dist_variables(distribution: Any, **extra: str) -> Dict[str, str]:
    """Template variables: the environment, the distribution's metadata
    (``DIST_NAME``, ``DIST_VERSION``, ``DIST_DESCRIPTION``, ``DIST_URL``,
    ``DIST_AUTHOR``, ``DIST_AUTHOR_EMAIL``, ``DIST_LICENSE``,
    ``DIST_TITLE``) and ``extra``."""
    metadata = distribution.metadata
    variables = dict(os.environ)
    variables.update({
        "DIST_NAME": distribution.get_name(),
        "DIST_VERSION": distribution.get_version(),
        "DIST_DESCRIPTION": metadata.description or "",
        "DIST_URL": metadata.url or "",
        "DIST_AUTHOR": metadata.author or "",
        "DIST_AUTHOR_EMAIL": metadata.author_email or "",
        "DIST_LICENSE": metadata.license or "",
        "DIST_TITLE": getattr(distribution, "title", None)
        or distribution.get_name(),
    })
    variables.update(extra)
    return variables
