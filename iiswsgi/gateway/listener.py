"""Serving a listening socket: connections are accepted, and their requests
served by a pool of worker threads.

Connections between requests wait in a selector, not in a thread, so web
servers that keep connections open (nginx's upstream keepalive) cannot use
up the workers.
"""

import logging
import os
import queue
import selectors
import socket
import threading
from typing import TYPE_CHECKING, List, Optional

from . import transport
from .responder import Responder
from .signals import Interrupted

if TYPE_CHECKING:
    from .server import IISWSGIServer

__all__ = ["LINGER_SECONDS", "serve_listener"]

log = logging.getLogger(__name__)

_WAKE = "wake"

#: How long a worker waits on its connection for the next request.
LINGER_SECONDS = 0.05


def _drain(sock):
    try:
        while sock.recv(4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def allowed_addresses() -> Optional[List[str]]:
    """The web servers' addresses FCGI_WEB_SERVER_ADDRS allows, or None
    (any)."""
    value = os.environ.get("FCGI_WEB_SERVER_ADDRS")
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def serve_listener(server: "IISWSGIServer", sock: socket.socket,
                   inherited: bool) -> None:
    """Accept connections on ``sock`` and serve them with ``server.threads``
    workers until ``server`` stops or the socket closes.  ``inherited``:
    the socket was standard input (it may be shared with other processes),
    rather than bound by this process."""
    _Pool(server, sock, inherited).run()


class _Pool:
    """The selector, the workers and the queues between them."""

    def __init__(self, server, sock, inherited):
        self.server = server
        self.sock = sock
        self.inherited = inherited
        self.lingering = 0
        self.allowed = allowed_addresses()

    def run(self):
        server, sock = self.server, self.sock
        if self.inherited:
            transport.protect_standard_streams(server.stdin_fd)
            log.info("accepting FastCGI connections on the socket given as"
                     " standard input")
        self.settings = server.responder_settings(
            multithread=server.threads > 1,
            multiprocess=self.inherited or server.worker_process,
            max_conns=server.threads)
        # Several processes may share an inherited socket: never block on
        # an accept another process won.
        sock.setblocking(False)
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ, None)
        wake_reader, self.wake_writer = socket.socketpair()
        wake_reader.setblocking(False)
        selector.register(wake_reader, selectors.EVENT_READ, _WAKE)
        ready = queue.SimpleQueue()
        self.returned = queue.SimpleQueue()
        workers = [threading.Thread(target=self._work, args=(ready,),
                                    name="iiswsgi-worker-%d" % n, daemon=True)
                   for n in range(server.threads)]
        for worker in workers:
            worker.start()
        try:
            while not server.stopping:
                server.main_waiting = True
                try:
                    if server.stopping:
                        break
                    events = selector.select(1.0)
                finally:
                    server.main_waiting = False
                for key, _ in events:
                    if key.data is None:
                        self._accept(selector)
                    elif key.data is _WAKE:
                        _drain(wake_reader)
                        self._take_back(selector)
                    else:
                        selector.unregister(key.fileobj)
                        ready.put(key.data)
        except Interrupted:
            pass
        finally:
            sock.close()
            address = server.bind_address
            # A worker process leaves the socket file to its parent.
            if (not self.inherited and not server.worker_process
                    and isinstance(address, str)):
                try:
                    os.unlink(address)
                except OSError:
                    pass
            server.stop(server.stop_reason or "the listening socket closed")
            self._finish(selector, ready, workers)
            selector.close()
            wake_reader.close()
            self.wake_writer.close()

    def _allowed(self, address):
        if self.allowed is None or not isinstance(address, tuple):
            return True
        return address[0] in self.allowed

    def _accept(self, selector):
        server = self.server
        try:
            client, address = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            log.error("accept failed: %s", error)
            return
        if not self._allowed(address):
            log.warning("refusing a connection from %s, not in"
                        " FCGI_WEB_SERVER_ADDRS", address)
            client.close()
            return
        channel = transport.SocketChannel(client)
        # Workers only wait to read in the middle of a request (between
        # requests connections wait in the selector): a web server silent
        # that long has gone.
        channel.set_read_timeout(server.read_timeout)
        responder = Responder(self.settings, channel, server)
        server.add_responder(responder)
        selector.register(client, selectors.EVENT_READ, responder)

    def _work(self, ready):
        """A worker: serve connections that have data, until told to end."""
        server = self.server
        while True:
            responder = ready.get()
            if responder is None:
                return
            try:
                reason = responder.run(until_idle=True)
                # A busy web server sends the next request on the same
                # connection at once: wait a moment for it here rather
                # than hand the connection back, while no other connection
                # needs a worker and half the workers are free.
                while (reason == "idle" and not server.stopping
                       and self._linger(responder, ready)):
                    reason = responder.run(until_idle=True)
            except Interrupted:
                reason = "stop"
            except Exception:
                log.exception("a connection failed")
                reason = "error"
            if reason == "idle":
                self.returned.put(responder)
                try:
                    self.wake_writer.send(b"\0")
                except OSError:
                    self._close(responder)  # the server is shutting down
            else:
                self._close(responder)

    def _linger(self, responder, ready):
        """Wait up to LINGER_SECONDS for ``responder``'s next request;
        True when it came."""
        lock = self.server.lock
        with lock:
            if self.lingering >= self.server.threads // 2 or not ready.empty():
                return False
            self.lingering += 1
        try:
            # The channel's poll(), not select(): any descriptor number
            # (select() fails past 1024 open files).
            return responder.channel.wait_readable(LINGER_SECONDS)
        except (OSError, ValueError):
            return False
        finally:
            with lock:
                self.lingering -= 1

    def _take_back(self, selector):
        """Watch again the connections workers finished with."""
        while True:
            try:
                responder = self.returned.get_nowait()
            except queue.Empty:
                return
            if self.server.stopping:
                self._close(responder)
            else:
                selector.register(responder.channel.sock,
                                  selectors.EVENT_READ, responder)

    def _close(self, responder):
        responder.channel.close()
        self.server.discard_responder(responder)

    def _finish(self, selector, ready, workers):
        """Close waiting connections; let the workers finish their
        requests, then end them."""
        for key in list(selector.get_map().values()):
            if isinstance(key.data, Responder):
                selector.unregister(key.fileobj)
                self._close(key.data)
        for _ in workers:
            ready.put(None)
        try:
            for worker in workers:
                worker.join()
        except Interrupted:
            # A second stop signal: exit without waiting for the requests
            # in flight (the workers are daemon threads).
            return
        self._take_back(selector)
