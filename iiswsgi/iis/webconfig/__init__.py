"""The one reader of IIS configuration files (web.config, and the
sections applicationHost.config shares with it), read as IIS's
configuration reference defines them.

A file is parsed once into its *scopes* (:mod:`.files`): the sections
directly under ``<configuration>`` and those of each ``<location
path=...>`` block.  :func:`merge` (:mod:`.merge`) applies a chain of them
-- the application's web.config, then each sub-folder's, each with the
``<location>`` blocks that match the requested path -- and gives the
effective :class:`Configuration` (:mod:`.sections`); :class:`ConfigCache`
(:mod:`.cache`) reads each file once and merges each chain once.  IIS's
own default tables are in :mod:`.defaults`, the attribute readers in
:mod:`.attributes`, the add/remove/clear rule in :mod:`.collection`.

In IIS's collections a key is matched in any case, and adding a key that
is already there is an error (HTTP 500.19), as it is here.  Every error is
a :class:`ConfigError` (:mod:`.errors`) naming the file, line and column,
what is wrong and what to do.
"""

from .cache import ConfigCache, configuration_for
from .defaults import (AUTOMATIC_INSTANCES, DEFAULT_DENIED_EXTENSIONS,
                       DEFAULT_HIDDEN_SEGMENTS,
                       DEFAULT_MAX_ALLOWED_CONTENT_LENGTH, DEFAULT_MIME_MAP,
                       DEFAULT_RESPONSE_BUFFER_LIMIT, STDERR_MODES)
from .errors import ConfigError
from .files import ConfigFile, Scope, find_web_config, read_config_file
from .merge import app_settings, merge, read_app_settings, read_web_config
from .sections import (Configuration, FastCgiApplication, Handler,
                       RequestFiltering, StaticContent, application_key,
                       application_name,
                       fastcgi_handlers, find_application,
                       read_environment_variables, read_fastcgi_applications,
                       script_processor)

__all__ = [
    "AUTOMATIC_INSTANCES", "ConfigCache", "ConfigError", "ConfigFile",
    "Configuration", "DEFAULT_DENIED_EXTENSIONS", "DEFAULT_HIDDEN_SEGMENTS",
    "DEFAULT_MAX_ALLOWED_CONTENT_LENGTH", "DEFAULT_MIME_MAP",
    "DEFAULT_RESPONSE_BUFFER_LIMIT", "FastCgiApplication", "Handler",
    "RequestFiltering", "STDERR_MODES", "Scope", "StaticContent",
    "app_settings", "application_key", "application_name",
    "configuration_for",
    "fastcgi_handlers", "find_application", "script_processor",
    "find_web_config", "merge", "read_app_settings", "read_config_file",
    "read_environment_variables", "read_fastcgi_applications",
    "read_web_config"]
