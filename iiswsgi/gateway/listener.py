"""Serving a listening socket: connections are accepted, and their requests
served, by one thread or by a pool of worker threads (``threads``).

Connections between requests wait in a selector, not in a thread, so web
servers that keep connections open (nginx's upstream keepalive) cannot use
up the workers.

* ``threads = 1``: :class:`_Loop`.  The one thread waits for any readable
  connection (or the listening socket), reads, serves the request there
  and then, writes, and waits again: no handoff between threads, no wake
  socket, and connections stay registered in the selector from one
  request to the next (a request costs its read, its write and the wait).
  A request cut in two by the network (parameters not all come) waits in
  the selector too, so a slow web server holds up the others only while
  the application runs or reads its body, which one thread must do.
* ``threads`` above 1: :class:`_Pool`.  A selector thread accepts and
  watches idle connections; the workers serve the requests, each staying
  a moment (LINGER_SECONDS) on its connection for the next request, then
  looking at the connections other workers saw ready, before handing its
  connection back to the selector.
"""

import collections
import logging
import os
import select
import selectors
import socket
import threading
from typing import TYPE_CHECKING, List, Optional

from . import transport
from .responder import Responder
from .signals import Interrupted

if TYPE_CHECKING:
    from .server import IISWSGIServer

__all__ = ["LINGER_SECONDS", "allowed_addresses", "serve_listener"]

log = logging.getLogger(__name__)

_WAKE = "wake"

#: How long a worker waits on its connection for the next request.
LINGER_SECONDS = 0.05
#: How long a wait in a selector lasts before the stop flag is looked at
#: again (a stop normally ends the wait at once: see signals.py).
_SELECT_SECONDS = 1.0


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
    """Accept connections on ``sock`` and serve them (with
    ``server.threads`` threads) until ``server`` stops or the socket
    closes.  ``inherited``: the socket was standard input (it may be
    shared with other processes), rather than bound by this process."""
    if server.threads == 1:
        _Loop(server, sock, inherited).run()
    else:
        _Pool(server, sock, inherited).run()


class _Readable:
    """Sockets watched for reading, each with its data: epoll where the
    system has it (one call per wait, the list of what is ready built in
    C), else the best of :mod:`selectors`.

    A socket added ``once`` is reported once, then no longer watched
    until :meth:`rearm`: with epoll (EPOLLONESHOT) any thread may rearm
    it while another waits (:attr:`threadsafe`), else only the thread
    that waits."""

    def __init__(self):
        self._data = {}
        #: The descriptors added ``once`` that are watched now.
        self._armed = set()
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._selector = (selectors.DefaultSelector()
                          if self._epoll is None else None)
        self.threadsafe = self._epoll is not None

    def add(self, sock, data, once=False):
        fd = sock.fileno()
        self._data[fd] = data
        if once:
            self._armed.add(fd)
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN | (
                select.EPOLLONESHOT if once else 0))
        else:
            self._selector.register(fd, selectors.EVENT_READ, data)

    def rearm(self, sock):
        """Watch again a socket added ``once`` and reported since."""
        fd = sock.fileno()
        self._armed.add(fd)
        if self._epoll is not None:
            self._epoll.modify(fd, select.EPOLLIN | select.EPOLLONESHOT)
        else:
            self._selector.register(fd, selectors.EVENT_READ, self._data[fd])

    def remove(self, sock):
        """Stop watching ``sock`` (before it is closed)."""
        fd = sock.fileno()
        self._data.pop(fd, None)
        self._armed.discard(fd)
        if self._epoll is not None:
            self._epoll.unregister(fd)
        else:
            try:
                self._selector.unregister(fd)
            except KeyError:
                pass    # reported (once) and not rearmed

    def wait(self, seconds):
        """The data of the sockets readable within ``seconds`` (a list,
        maybe empty)."""
        armed = self._armed
        data = self._data
        if self._epoll is not None:
            ready = [fd for fd, _ in self._epoll.poll(seconds)]
        else:
            ready = [key.fd for key, _ in self._selector.select(seconds)]
            for fd in ready:
                if fd in armed:
                    self._selector.unregister(fd)
        if armed:
            for fd in ready:
                armed.discard(fd)
        return [data[fd] for fd in ready]

    def watched(self, once=False):
        """The data of every socket watched now; with ``once``, of those
        added ``once`` only."""
        if once:
            return [self._data[fd] for fd in list(self._armed)]
        return list(self._data.values())

    def close(self):
        (self._epoll or self._selector).close()


class _Listener:
    """What both ways of serving share: accepting, the allow-list,
    closing, and leaving the socket."""

    def __init__(self, server, sock, inherited):
        self.server = server
        self.sock = sock
        self.inherited = inherited
        self.allowed = allowed_addresses()
        self.settings = None

    def start(self):
        server, sock = self.server, self.sock
        if self.inherited:
            transport.protect_standard_streams(server.stdin_fd)
            log.info("accepting FastCGI connections on the socket given as"
                     " standard input")
        self.settings = server.responder_settings(
            multithread=server.threads > 1,
            multiprocess=self.inherited or server.worker_process,
            max_conns=server.threads)
        # Several processes may share an inherited socket, or the workers'
        # bound one: never block on an accept another process won.
        sock.setblocking(False)

    def _wait(self, readable):
        """What ``readable`` has ready (one wait), or None when the server
        is stopping; the server knows the main thread is waiting meanwhile
        (a stop signal then ends the wait)."""
        server = self.server
        server.main_waiting = True
        try:
            if server.stopping:
                return None
            return readable.wait(_SELECT_SECONDS)
        finally:
            server.main_waiting = False

    def leave(self):
        """Close the listening socket (and remove its file, when this
        process made it) and stop the server."""
        server = self.server
        self.sock.close()
        address = server.bind_address
        # A worker process leaves the socket file to its parent.
        if (not self.inherited and not server.worker_process
                and isinstance(address, str)):
            try:
                os.unlink(address)
            except OSError:
                pass
        server.stop(server.stop_reason or "the listening socket closed")

    def _allowed(self, address):
        if self.allowed is None or not isinstance(address, tuple):
            return True
        return address[0] in self.allowed

    def accept(self) -> Optional[Responder]:
        """The responder of a connection accepted now, or None (another
        process took it, or the peer is not allowed)."""
        server = self.server
        try:
            client, address = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as error:
            log.error("accept failed: %s", error)
            return None
        if not self._allowed(address):
            log.warning("refusing a connection from %s, not in"
                        " FCGI_WEB_SERVER_ADDRS", address)
            client.close()
            return None
        channel = transport.SocketChannel(client)
        # Reads in the middle of a request (between requests connections
        # wait in the selector): a web server silent that long has gone.
        channel.set_read_timeout(server.read_timeout)
        responder = Responder(self.settings, channel, server)
        server.add_responder(responder)
        return responder

    def close(self, responder):
        responder.channel.close()
        self.server.discard_responder(responder)


class _Loop(_Listener):
    """One thread: wait for any connection, serve what came, wait again."""

    def run(self):
        server = self.server
        self.start()
        readable = _Readable()
        readable.add(self.sock, None)
        serve = self._serve
        try:
            while not server.stopping:
                ready = self._wait(readable)
                if ready is None:
                    break
                for responder in ready:
                    if responder is None:
                        responder = self.accept()
                        if responder is not None:
                            responder.channel.wait_in_selector = responder
                            readable.add(responder.channel.sock, responder)
                    elif not serve(responder):
                        try:
                            readable.remove(responder.channel.sock)
                        except (OSError, ValueError):
                            pass    # the socket is closed already
                        self.close(responder)
                    if server.stopping:
                        break
        except Interrupted:
            pass
        finally:
            self.leave()
            for responder in readable.watched():
                if responder is not None:
                    self.close(responder)
            readable.close()

    def _serve(self, responder):
        """Serve what ``responder``'s connection has; True to keep it."""
        try:
            reason = responder.run(until_idle=True)
        except transport.WouldWait:
            # The rest of a request is late: wait for it in the selector.
            return True
        except Interrupted:
            return False
        except Exception:
            log.exception("a connection failed")
            return False
        return reason == "idle"


class _Pool(_Listener):
    """The selector, the workers and the queues between them.

    The selector thread hands a readable connection to a worker (the
    ``ready`` deque, ``work`` condition).  A worker serves it, lingers a
    moment on it for its next request (web servers that keep connections
    send the next one at once), and before sleeping looks at the deque: a
    connection that became ready meanwhile is served by the worker at
    hand, without waking another.  A connection is watched once
    (EPOLLONESHOT): the worker that is done with it watches it again
    itself, with no wake-up of the selector thread (where the system has
    no epoll, it hands it back through ``returned`` and a wake socket)."""

    def __init__(self, server, sock, inherited):
        _Listener.__init__(self, server, sock, inherited)
        self.lingering = 0
        self.linger_lock = threading.Lock()
        self.ready = collections.deque()
        self.returned = collections.deque()
        self.work = threading.Condition(threading.Lock())
        #: Workers waiting in ``work``.
        self.sleeping = 0
        self.ending = False
        self.readable = None

    def run(self):
        server, sock = self.server, self.sock
        self.start()
        readable = self.readable = _Readable()
        readable.add(sock, None)
        wake_reader, self.wake_writer = socket.socketpair()
        wake_reader.setblocking(False)
        readable.add(wake_reader, _WAKE)
        workers = [threading.Thread(target=self._work,
                                    name="iiswsgi-worker-%d" % n, daemon=True)
                   for n in range(server.threads)]
        for worker in workers:
            worker.start()
        try:
            while not server.stopping:
                ready = self._wait(readable)
                if ready is None:
                    break
                handed = []
                for responder in ready:
                    if responder is None:
                        responder = self.accept()
                        if responder is not None:
                            readable.add(responder.channel.sock, responder,
                                         once=True)
                    elif responder is _WAKE:
                        _drain(wake_reader)
                        self._take_back()
                    else:
                        handed.append(responder)
                if handed:
                    self._hand(handed)
        except Interrupted:
            pass
        finally:
            self.leave()
            self._finish(workers)
            readable.close()
            wake_reader.close()
            self.wake_writer.close()

    def _hand(self, responders):
        """Give readable connections to the workers: one woken for each
        (at most as many as sleep), the rest picked up by busy workers as
        they finish."""
        with self.work:
            self.ready.extend(responders)
            self.work.notify(min(len(responders), self.sleeping))

    def _next(self):
        """A readable connection for this worker, waiting for one; None
        when the pool ends."""
        with self.work:
            while not self.ready:
                if self.ending:
                    return None
                self.sleeping += 1
                try:
                    self.work.wait()
                finally:
                    self.sleeping -= 1
            return self.ready.popleft()

    def _take_ready(self):
        """A connection the selector saw ready that no worker has taken,
        or None; never waits."""
        try:
            return self.ready.popleft()
        except IndexError:
            return None

    def _work(self):
        """A worker: serve connections that have data, until told to end."""
        server = self.server
        responder = self._next()
        while responder is not None:
            try:
                reason = responder.run(until_idle=True)
                # A busy web server sends the next request on the same
                # connection at once: wait a moment for it here rather
                # than hand the connection back, while no other connection
                # needs a worker and half the workers are free.
                while (reason == "idle" and not server.stopping
                       and self._linger(responder)):
                    reason = responder.run(until_idle=True)
            except Interrupted:
                reason = "stop"
            except Exception:
                log.exception("a connection failed")
                reason = "error"
            if reason == "idle" and not server.stopping:
                self._give_back(responder)
            else:
                self.close(responder)
            # Another connection the selector saw ready while this one was
            # served: take it now, rather than sleep and wake another.
            responder = self._take_ready()
            if responder is None:
                responder = self._next()

    def _give_back(self, responder):
        """Let the selector watch ``responder``'s connection again."""
        if self.readable.threadsafe:
            try:
                self.readable.rearm(responder.channel.sock)
                return
            except (OSError, ValueError):
                self.close(responder)  # the server is shutting down
                return
        self.returned.append(responder)
        try:
            self.wake_writer.send(b"\0")
        except OSError:
            self._close_returned()  # the server is shutting down

    def _linger(self, responder):
        """Wait up to LINGER_SECONDS for ``responder``'s next request;
        True when it came."""
        lock = self.linger_lock
        with lock:
            if self.lingering >= self.server.threads // 2 or self.ready:
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

    def close(self, responder):
        try:
            self.readable.remove(responder.channel.sock)
        except (OSError, ValueError, KeyError):
            pass    # closed already, or the selector is
        _Listener.close(self, responder)

    def _close_returned(self):
        while True:
            try:
                self.close(self.returned.popleft())
            except IndexError:
                return

    def _take_back(self):
        """Watch again the connections workers handed back (without
        epoll)."""
        while True:
            try:
                responder = self.returned.popleft()
            except IndexError:
                return
            if self.server.stopping:
                self.close(responder)
            else:
                self.readable.rearm(responder.channel.sock)

    def _close_waiting(self):
        for responder in self.readable.watched(once=True):
            self.close(responder)

    def _finish(self, workers):
        """Close waiting connections; let the workers finish their
        requests, then end them."""
        self._close_waiting()
        with self.work:
            self.ending = True
            # Connections handed but not taken are served by the workers
            # that take them (they see the server stopping).
            self.work.notify_all()
        try:
            for worker in workers:
                worker.join()
        except Interrupted:
            # A second stop signal: exit without waiting for the requests
            # in flight (the workers are daemon threads).
            return
        self._take_back()
        # A worker may have watched its connection again just before the
        # stop.
        self._close_waiting()
