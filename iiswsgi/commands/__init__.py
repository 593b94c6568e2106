"""The setup.py commands (``distutils.commands`` entry points), one module
each, and the setup() keywords they read.  Each command is glue: options
declared once, the work done by :mod:`iiswsgi.msdeploy`."""

import os
import shlex
from distutils import log
from distutils.errors import DistutilsOptionError
from typing import Any, Dict, List, Sequence, Union

__all__ = ["INFO", "dist_variables", "split_paths"]

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


def split_paths(value: Union[str, Sequence[str], None],
                option: str = "the option") -> List[str]:
    """A list of paths from a list, or from the text of ``option`` split
    as a shell would (quotes group; backslashes are kept, for Windows
    paths); DistutilsOptionError naming ``option`` for an unclosed
    quote."""
    if value is None or isinstance(value, (list, tuple)):
        return list(value or ())
    lexer = shlex.shlex(value, posix=True)
    lexer.whitespace_split = True
    lexer.escape = ""
    try:
        return list(lexer)
    except ValueError as error:
        raise DistutilsOptionError("%s %r: %s" % (option, value, error)) \
            from None
