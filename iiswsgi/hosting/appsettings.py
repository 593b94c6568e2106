"""What a site's settings do before its application is imported.

The ``<appSettings>`` of the web.config in the request's
APPL_PHYSICAL_PATH become environment variables (DJANGO_SETTINGS_MODULE
and the like), WSGI_LOG opens the log, the site's folder and PYTHONPATH
join ``sys.path``, and the server options among them (WSGI_READ_TIMEOUT,
WSGI_RESTART_FILE_REGEX, SCRIPT_NAME), checked by :mod:`iiswsgi.settings`,
reach the running server."""

import logging
import os
import sys
from typing import Any, Dict, Mapping, MutableMapping, Optional

from .. import logs
from .. import settings as options_table
from ..gateway.environ import remount
from ..gateway.site import site_folder
from ..iis.expand import expand_variables
from ..iis.webconfig import app_settings

__all__ = ["apply_site_settings", "server_settings", "site_folder"]

log = logging.getLogger(__name__)


def server_settings(app_settings: Optional[Mapping[str, str]] = None,
                    web_config: Optional[str] = None,
                    environ: Optional[Mapping[str, str]] = None
                    ) -> Dict[str, Any]:
    """The server options set by the site (WSGI_READ_TIMEOUT,
    WSGI_RESTART_FILE_REGEX, SCRIPT_NAME), checked by
    :mod:`iiswsgi.settings`: from ``app_settings`` (the appSettings of
    ``web_config``) when given, else from the environment.  A bad value
    is logged, naming the setting and where it came from, and left out:
    the option keeps its value, as a site's bad setting always has."""
    if app_settings is None:
        env = os.environ if environ is None else environ
        values, errors = options_table.site_settings(
            env, options_table.ENVIRONMENT)
    else:
        values, errors = options_table.site_settings(
            app_settings, options_table.app_settings_source(web_config))
    for error in errors:
        log.warning("ignoring %s", error)
    # WSGI_LOG is the log file, which hosting opens itself.
    values.pop("log_file", None)
    return values


def _setting(settings: Mapping[str, str], name: str) -> Optional[str]:
    """An appSetting by name, in any case (wfastcgi matched PYTHONPATH so)."""
    for key, value in settings.items():
        if key.upper() == name:
            return value
    return None


def _extend_sys_path(app_dir: str, python_path: Optional[str]) -> None:
    # The site's folder first; PYTHONPATH's folders (;-separated, %VAR%
    # expanded) after everything else.
    if os.path.isdir(app_dir):
        os.chdir(app_dir)
        if app_dir not in sys.path:
            sys.path.insert(0, app_dir)
    for entry in expand_variables(python_path or "",
                                  keep_unknown=False).split(";"):
        entry = entry.strip()
        if entry and entry not in sys.path:
            sys.path.append(entry)


def apply_site_settings(environ: MutableMapping[str, str],
                        server: Any = None) -> str:
    """Apply the settings of the site that ``environ`` (its first
    request's) is for; return the site's folder.

    ``server``, when given, is the running server
    (:class:`iiswsgi.gateway.server.IISWSGIServer`): the server options
    among the appSettings reach it in one ``server.apply`` call, and
    ``environ`` is split again at SCRIPT_NAME when the site sets one."""
    app_dir = site_folder(environ)
    web_config, settings = app_settings(app_dir)
    if web_config is not None:
        logs.protect_secrets(settings)
        log.info("read %d appSettings from %s", len(settings), web_config)
    else:
        log.info("no web.config in %s; using the environment", app_dir)
    # Every appSetting becomes an environment variable before the
    # application is imported.
    os.environ.update(settings)
    if any(key.upper().startswith("WSGI_LOG") for key in settings):
        # WSGI_LOG, WSGI_LOG_MAX_BYTES, WSGI_LOG_BACKUP_COUNT: a log file
        # that cannot be opened keeps the one already open (if any), and
        # says why.
        logs.configure(_setting(settings, "WSGI_LOG"), source=web_config)
    _extend_sys_path(app_dir, _setting(settings, "PYTHONPATH"))
    if server is not None:
        # The environment's settings reached the server at start (main);
        # the appSettings' reach it now, checked by the same table.
        values = server_settings(settings, web_config)
        values["app_dir"] = app_dir
        server.apply(values)
        if values.get("script_name"):
            # This request's environ was built before the mount point was
            # known; the next ones are split by the server.
            remount(environ, values["script_name"])
    logs.protect_secrets(os.environ)
    return app_dir
