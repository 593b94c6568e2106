"""``%NAME%`` references, expanded as Windows expands them.

IIS expands environment variables in its configuration (a site's
``physicalPath``, a FastCGI application's ``fullPath``) with Windows's
rules: names in any case, and a name that is not set is left as it is.
wfastcgi expanded them in the PYTHONPATH appSetting too, but turned
unknown names into nothing; ``keep_unknown=False`` gives that reading.
"""

import os
import re
from typing import Mapping, Optional

__all__ = ["expand_variables"]

_VARIABLE = re.compile(r"%([^%;]+)%")


def expand_variables(value: str, environ: Optional[Mapping[str, str]] = None,
                     keep_unknown: bool = True) -> str:
    """``value`` with each ``%NAME%`` replaced from ``environ``
    (os.environ), the name matched in any case.  A name that is not set is
    kept as written, as Windows does, or with ``keep_unknown=False``
    becomes empty, as wfastcgi did for PYTHONPATH."""
    env = os.environ if environ is None else environ
    folded = {key.upper(): val for key, val in env.items()}

    def replace(match):
        found = folded.get(match.group(1).upper())
        if found is not None:
            return found
        return match.group(0) if keep_unknown else ""
    return _VARIABLE.sub(replace, value)
