"""The error of the gateway layer (transports, wsgi.input, the server)."""

from ..errors import IISWSGIError

__all__ = ["GatewayError"]


class GatewayError(IISWSGIError):
    """The web server's connection, standard input or a request body is
    not what the gateway can serve: the message says which and why."""
