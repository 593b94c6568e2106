"""Serving the IIS pipe: standard input is one duplex channel, its
requests served one after the other."""

import logging
import os
from typing import TYPE_CHECKING

from . import transport
from .responder import Responder
from .signals import Interrupted

if TYPE_CHECKING:
    from .server import IISWSGIServer

__all__ = ["serve_pipe"]

log = logging.getLogger(__name__)

_STOP_REASONS = {
    "eof": "the web server closed the pipe",
    "close": "the web server asked to close the connection",
    "error": "the FastCGI stream broke",
    # IIS then answers that request "500 The FastCGI process exited
    # unexpectedly" (or, before the head, "An unknown FastCGI error
    # occurred") and starts a fresh process for the next: a response cut
    # short is never passed on as a complete one.
    "cut": "a response was cut short: the pipe is closed without ending the"
           " request, so that IIS sees the request fail",
}


def serve_pipe(server: "IISWSGIServer") -> None:
    """Serve ``server``'s standard input as the IIS pipe until the web
    server closes it, goes silent mid-request, or ``server`` stops."""
    transport.protect_standard_streams(server.stdin_fd)
    pipe_name = os.environ.get("_FCGI_X_PIPE_")
    log.info("serving the FastCGI pipe on standard input%s",
             " (%s)" % pipe_name if pipe_name else "")
    settings = server.responder_settings(multithread=False,
                                         multiprocess=True, max_conns=1)
    channel = transport.stdin_channel(server.stdin_fd, server.read_timeout)
    server.pipe_channel = channel
    reason = "stop"
    try:
        while True:
            responder = Responder(settings, channel, server)
            server.responders = {responder}
            try:
                reason = responder.run()
            except Interrupted:
                reason = "stop"
            if (reason != "close" or not channel.can_reconnect
                    or server.stopping):
                break
            # Without FCGI_KEEP_CONN the web server ends the connection
            # after each request; IIS then connects again to the same pipe
            # for the next one.
            log.debug("the web server closed the connection; waiting for it"
                      " to connect again")
            server.main_waiting = True
            try:
                channel.reconnect()
            except (OSError, Interrupted) as error:
                if not server.stopping:
                    log.error("cannot wait for the web server to connect"
                              " again: %s", error)
                reason = "stop"
                break
            finally:
                server.main_waiting = False
    finally:
        channel.close()
    if reason in _STOP_REASONS:
        server.stop(_STOP_REASONS[reason])
    elif reason == "timeout":
        server.stop("the web server went silent in the middle of a request"
                    " (read_timeout %g s)" % server.read_timeout)
