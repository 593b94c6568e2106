"""Web Deploy (MSDeploy) application packages for Python WSGI apps.

* :mod:`.options`: the ``MSDeploy.MSDeployProviderOptions`` codec;
* :mod:`.template`: ``$VAR``/``%VAR%`` substitution in the templates;
* :mod:`.manifest`, :mod:`.parameters`, :mod:`.webconfig`: the package's
  Manifest.xml, Parameters.xml and web.config;
* :mod:`.package`: the deterministic zip;
* :mod:`.register`: the FastCGI application registration through appcmd;
* :mod:`.probe`: one request to the installed app through its gateway;
* :mod:`.stamp`: the install stamp, its search and when it is trusted;
* :mod:`.install`: the ``iiswsgi_install`` bootstrap Web Deploy runs.
"""

from .errors import PackageError
from .options import (ProviderOptionsError, decode_provider_options,
                      encode_provider_options)
from .stamp import STAMP, STAMP_TEMPLATE

__all__ = ["PackageError", "ProviderOptionsError",
           "decode_provider_options", "encode_provider_options",
           "STAMP", "STAMP_TEMPLATE"]
