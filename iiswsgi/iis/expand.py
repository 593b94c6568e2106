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

__all__ = ["WindowsNames", "expand_variables"]

_VARIABLE = re.compile(r"%([^%;]+)%")


class WindowsNames:
    """The values of ``mapping`` looked up by name as Windows looks up
    environment variables: the name as given, else in any case.  The one
    lookup for %VAR% expansion and the package templates' variables."""

    def __init__(self, mapping: Mapping[str, object]) -> None:
        self._mapping = mapping
        self._folded: dict = {}
        for key, value in mapping.items():
            self._folded.setdefault(key.upper(), value)

    def get(self, name: str) -> Optional[object]:
        """The value of ``name``, or None when it is not set."""
        value = self._mapping.get(name)
        return value if value is not None else self._folded.get(name.upper())


def expand_variables(value: str, environ: Optional[Mapping[str, str]] = None,
                     keep_unknown: bool = True) -> str:
    """``value`` with each ``%NAME%`` replaced from ``environ``
    (os.environ), the name matched in any case.  A name that is not set is
    kept as written, as Windows does, or with ``keep_unknown=False``
    becomes empty, as wfastcgi did for PYTHONPATH."""
    names = WindowsNames(os.environ if environ is None else environ)

    def replace(match):
        found = names.get(match.group(1))
        if found is not None:
            return found
        return match.group(0) if keep_unknown else ""
    return _VARIABLE.sub(replace, value)
