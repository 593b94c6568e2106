"""setup() keywords iiswsgi adds (``distutils.setup_keywords``), checked
when setup() is called.  Strings: ``title``, ``author_url``,
``license_url``, ``display_url``, ``help_url``, ``icon_url``,
``screenshot_url``, ``discovery_file``, ``published``,
``msdeploy_url_template``, ``wsgi_handler`` (the application the
generated web.config.in names as WSGI_HANDLER) and ``python_home`` (the
target server's Python folder, for the generated runCommand).  Lists of
requirement strings: ``webpi_dependencies`` (products WebPI installs first), ``install_msdeploy``
(the same, under the name iiswsgi 0.3 used) and ``install_webpi`` (related
products WebPI offers).  ``msdeploy_package`` is a bool: whether ``build``
builds the Manifest.xml (default: when Manifest.xml.in exists).
"""

from distutils.errors import DistutilsSetupError
from typing import Any

__all__ = ["check_bool", "check_string", "check_strings"]


def check_string(dist: Any, attr: str, value: Any) -> None:
    if not isinstance(value, str):
        raise DistutilsSetupError(
            "setup() keyword %s must be a string, not %s: %r"
            % (attr, type(value).__name__, value))


def check_strings(dist: Any, attr: str, value: Any) -> None:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or (
            not all(isinstance(item, str) for item in value)):
        raise DistutilsSetupError(
            "setup() keyword %s must be a list of strings, not %r"
            % (attr, value))


def check_bool(dist: Any, attr: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise DistutilsSetupError(
            "setup() keyword %s must be True or False, not %r"
            % (attr, value))
