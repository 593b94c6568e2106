"""wfastcgi's WSGI_PTVSD_SECRET and WSGI_PTVSD_ADDRESS: a remote debugger
listener, with debugpy (ptvsd's successor) or ptvsd, when installed."""

import logging

__all__ = ["start_debugger"]

log = logging.getLogger(__name__)


def start_debugger(address: str, secret: str) -> bool:
    """Listen for a debugger at ``address`` (host:port).  Returns True when
    a debugger listens.  The secret is never logged."""
    host, _, port_text = address.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        log.warning("WSGI_PTVSD_ADDRESS %r is not host:port; not starting"
                    " the debugger", address)
        return False
    host = host.strip("[]") or "localhost"
    try:
        import debugpy
    except ImportError:
        debugpy = None
    if debugpy is not None:
        debugpy.listen((host, port))
        log.info("debugpy is listening on %s:%d: attach to it from Visual"
                 " Studio Code or Visual Studio.  debugpy has no secret, so"
                 " WSGI_PTVSD_SECRET cannot protect it: keep the address on"
                 " localhost or behind a firewall", host, port)
        return True
    try:
        import ptvsd
    except ImportError:
        log.warning("WSGI_PTVSD_SECRET is set but neither debugpy nor ptvsd"
                    " is installed (pip install debugpy); serving without a"
                    " debugger")
        return False
    try:
        ptvsd.enable_attach(secret, address=(host, port))
    except TypeError:
        # Later ptvsd releases take no secret.
        ptvsd.enable_attach(address=(host, port))
    log.info("ptvsd is listening on %s:%d", host, port)
    return True
