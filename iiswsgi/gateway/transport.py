"""Where the bytes come from and go to.

* The IIS pipe: standard input is one connected, duplex channel (a Windows
  named pipe under IIS; a connected socket in tests and under inetd-style
  launchers).  It is opened twice, as an unbuffered read end and an
  unbuffered write end, and only ever read and written: never select,
  accept, recv or send.
* A listening socket on standard input (IIS with protocol="Tcp", Apache
  mod_fcgid, lighttpd, spawn-fcgi): connections are accepted from it.
* A bound address: the server opens its own listening socket.

A channel has ``read(idle=False)`` (``b""`` at end of file; with a read
timeout set, :class:`ReadTimeout` when the web server stays silent that
long in the middle of a request, that is unless ``idle``),
``pending()`` (True when a read would not block, checked without
waiting), ``write(data)`` (all of it, or :class:`ConnectionLost`) and
``close()``.
"""

import errno
import io
import logging
import os
import select
import socket
import stat
import struct
import sys
from typing import List, Optional, Tuple, Union

from .. import logs
from .errors import GatewayError

__all__ = ["ConnectionLost", "NamedPipeChannel", "PipeChannel",
           "ReadTimeout", "SocketChannel", "StdinUnusable", "WouldWait",
           "bind", "inspect_stdin", "stdin_channel"]

log = logging.getLogger(__name__)

#: How much one read asks for: a full record and then some.
READ_SIZE = 1 << 17

STDIN_FILENO = 0

#: At most this many buffers go to one vectored write (IOV_MAX is 1024 on
#: Linux and the BSDs).
WRITEV_MAX = 512

_GONE = (errno.EPIPE, errno.ECONNRESET, errno.ECONNABORTED, errno.ESHUTDOWN,
         errno.ENOTCONN)


class ConnectionLost(GatewayError, OSError):
    """The web server closed the connection while we were writing."""


class WouldWait(GatewayError):
    """A read in the middle of a request found nothing yet, on a channel
    whose server waits for such a connection in its selector rather than
    in the read (see :attr:`SocketChannel.wait_in_selector`): the state
    stays in the responder, which goes on from there when more comes.
    Control flow for the one-thread loop, never seen by an
    application."""


class ReadTimeout(ConnectionLost):
    """The web server sent nothing for the read timeout in the middle of
    a request: the stream cannot be trusted to resume."""


def _silent(seconds):
    return ReadTimeout("the web server sent nothing for %s s in the"
                       " middle of a request" % seconds)


class _Poller:
    """Whether a descriptor is readable, waiting at most a given time.

    poll() where the system has it (any descriptor number), else
    select()."""

    __slots__ = ("_poll", "_fd")

    def __init__(self, fd):
        self._fd = fd
        self._poll = None
        if hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(fd, select.POLLIN | select.POLLPRI)

    def readable(self, seconds):
        """True when a read would not block (data, end of file or an
        error is waiting); ``seconds`` 0 checks without waiting."""
        if self._poll is not None:
            return bool(self._poll.poll(max(0, int(seconds * 1000 + 0.999))))
        readable, _, _ = select.select([self._fd], [], [], seconds)
        return bool(readable)


def _pending(poller):
    """A channel's ``pending()``: whether ``poller()`` (the channel's
    _Poller, made on first use) is readable now; False when the
    descriptor is closed or unusable, so the caller just reads later."""
    try:
        return poller().readable(0)
    except (OSError, ValueError):
        return False


def _wait_readable(poller, seconds):
    """A channel's ``wait_readable()``: like :func:`_pending`, waiting up
    to ``seconds``; True (the read that follows tells) when the
    descriptor is unusable."""
    try:
        return poller().readable(seconds)
    except (OSError, ValueError):
        return True


def _write_failed(error, what):
    """Raise what a failed write means: ConnectionLost when the web
    server closed ``what`` (the pipe, the connection), else ``error``."""
    if _is_gone(error):
        raise ConnectionLost(error.errno, "the web server closed the %s: %s"
                             % (what, error)) from error
    raise error


class _ReadBuffer:
    """One channel's reads land in a buffer kept for the channel's life;
    only the bytes read are copied out.  A read of READ_SIZE into a new
    bytes object asks malloc for 128 KiB each time: above its mmap
    threshold, that is an mmap, an mremap to shrink it to what came, and
    an munmap once it is freed, three system calls per request."""

    __slots__ = ("_view",)

    def __init__(self):
        self._view = memoryview(bytearray(READ_SIZE))

    def fill(self, read_into, size):
        """``read_into(buffer)`` once; the bytes it read (b"" at end of
        file, or when a non-blocking read found nothing)."""
        view = self._view
        if size != len(view):
            view = self._view = memoryview(bytearray(size))
        count = read_into(view)
        if not count:
            return b""
        return view[:count].tobytes()


class StdinUnusable(GatewayError):
    """Standard input is not something a FastCGI web server would give."""


def _is_gone(error):
    if error.errno in _GONE:
        return True
    return os.name == "nt" and _winapi().is_disconnect_error(error)


def _winapi():
    from ..iis import winapi
    return winapi


class PipeChannel:
    """Standard input as the IIS pipe: opened twice, read and written.

    On POSIX (tests, inetd-style launchers) it is a connected socket or
    another duplex descriptor.  Windows uses :class:`NamedPipeChannel`.
    """

    kind = "pipe"
    #: Whether the channel can wait for the web server to connect again.
    can_reconnect = False

    def __init__(self, fd: int = STDIN_FILENO,
                 read_timeout: Optional[float] = None) -> None:
        self.fd = fd
        self._reader = io.FileIO(fd, "rb", closefd=False)
        self._writer = io.FileIO(fd, "wb", closefd=False)
        self._poller = _Poller(fd)
        self.read_size = READ_SIZE
        self._into = _ReadBuffer()
        #: Seconds a read in the middle of a request may wait (None: for
        #: ever).  Idle reads, between requests, always wait for ever: IIS
        #: legitimately keeps the pipe silent for as long as no request
        #: comes.
        self.read_timeout = read_timeout or None

    def read(self, idle: bool = False) -> bytes:
        timeout = self.read_timeout
        # Reads in the middle of a request wait in poll() first, bounded;
        # idle reads (between requests, the hot path under IIS) go
        # straight to read(), with no extra call.
        if (timeout is not None and not idle
                and not self._poller.readable(timeout)):
            raise _silent(timeout)
        try:
            return self._into.fill(self._reader.readinto, self.read_size)
        except OSError as error:
            if _is_gone(error):
                return b""
            raise

    def pending(self) -> bool:
        return _pending(self._get_poller)

    def wait_readable(self, seconds: float) -> bool:
        """True once a read would not block, waiting at most ``seconds``."""
        return _wait_readable(self._get_poller, seconds)

    def _get_poller(self):
        return self._poller

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[self._writer.write(view):]
        except OSError as error:
            _write_failed(error, "pipe")

    def write_buffers(self, buffers: List[memoryview]) -> None:
        """Write the concatenation of ``buffers`` (bytes-like objects),
        all of it, in vectored writes (at most WRITEV_MAX buffers each):
        nothing is copied into one string first."""
        fd = self.fd
        try:
            for first in range(0, len(buffers), WRITEV_MAX):
                group = buffers[first:first + WRITEV_MAX]
                written = os.writev(fd, group)
                if written < sum(map(len, group)):
                    # Rarely (a signal): the rest, as one string.
                    rest = memoryview(b"".join(group))[written:]
                    while rest:
                        rest = rest[os.write(fd, rest):]
        except OSError as error:
            _write_failed(error, "pipe")

    def set_read_timeout(self, seconds: Optional[float]) -> None:
        """Reads in the middle of a request give up after ``seconds``
        (None or 0: never)."""
        self.read_timeout = seconds or None

    def close(self) -> None:
        # The descriptor belongs to the process: leave it open, so nothing
        # else can be given fd 0 while the web server still holds the pipe.
        self._reader.close()
        self._writer.close()


class NamedPipeChannel(PipeChannel):
    """The server end of IIS's named pipe (Windows)."""

    can_reconnect = True

    def __init__(self, fd: int = STDIN_FILENO,
                 read_timeout: Optional[float] = None) -> None:
        self.fd = fd
        self._pipe = _winapi().NamedPipe(fd)
        self.read_size = READ_SIZE
        #: As for :class:`PipeChannel`: reads in the middle of a request
        #: wait at most this long for the web server.
        self.read_timeout = read_timeout or None

    def read(self, idle: bool = False) -> bytes:
        timeout = self.read_timeout
        if (timeout is not None and not idle
                and not self._pipe.wait_readable(timeout)):
            raise _silent(timeout)
        return self._pipe.read(self.read_size)

    def pending(self) -> bool:
        return self._pipe.pending()

    def wait_readable(self, seconds: float) -> bool:
        """True once a read would not block, waiting at most ``seconds``
        (False at once after :meth:`wake`)."""
        return self._pipe.wait_readable(seconds)

    def wake(self) -> None:
        """End a wait for input in another thread (see
        :meth:`wait_readable`); a blocking read is ended by
        :func:`iiswsgi.iis.winapi.interrupt_thread` instead."""
        self._pipe.wake()

    def write(self, data: bytes) -> None:
        try:
            self._pipe.write(data)
        except OSError as error:
            _write_failed(error, "pipe")

    def write_buffers(self, buffers: List[memoryview]) -> None:
        """Write the concatenation of ``buffers``: a named pipe has no
        vectored write, so they are joined first."""
        self.write(b"".join(buffers))

    def reconnect(self) -> None:
        """Disconnect this client and wait for the next (OSError when the
        wait is cancelled)."""
        self._pipe.reconnect()

    def set_read_timeout(self, seconds: Optional[float]) -> None:
        """Reads in the middle of a request give up after ``seconds``
        (None or 0: never)."""
        self.read_timeout = seconds or None

    def close(self) -> None:
        self._pipe.close()


def stdin_channel(fd: int = STDIN_FILENO,
                  read_timeout: Optional[float] = None) -> PipeChannel:
    """The channel for the pipe the web server gave as standard input."""
    if os.name == "nt":
        return NamedPipeChannel(fd, read_timeout)
    return PipeChannel(fd, read_timeout)


class SocketChannel:
    """An accepted (or inherited, connected) stream socket."""

    kind = "socket"

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.read_size = READ_SIZE
        self._poller = None
        self._into = _ReadBuffer()
        self._timeout = sock.gettimeout()
        #: The responder of this connection when its server serves every
        #: connection from one thread: while that responder is receiving
        #: a request the application has not been given yet (its
        #: parameters came in pieces), a read that would wait raises
        #: :class:`WouldWait` instead, and the connection waits for the
        #: rest in the server's selector, so others are served meanwhile.
        self.wait_in_selector = None

    def read(self, idle: bool = False) -> bytes:
        # Listening connections wait between requests in the server's
        # selector, so every blocking read here is in a request: the
        # socket's own timeout applies to all of them.
        waiter = self.wait_in_selector
        if (waiter is not None and not idle and waiter.receiving
                and not self.pending()):
            raise WouldWait("the rest of the request has not come yet")
        try:
            return self._into.fill(self.sock.recv_into, self.read_size)
        except TimeoutError:
            raise _silent(self.sock.gettimeout()) from None
        except BlockingIOError:
            # SO_RCVTIMEO ran out (see set_read_timeout).
            raise _silent(self._timeout) from None
        except OSError as error:
            if _is_gone(error):
                return b""
            raise

    def pending(self) -> bool:
        return _pending(self._get_poller)

    def wait_readable(self, seconds: float) -> bool:
        """True once a read would not block, waiting at most ``seconds``."""
        return _wait_readable(self._get_poller, seconds)

    def _get_poller(self):
        # Made on first use: most connections never ask.
        if self._poller is None:
            self._poller = _Poller(self.sock.fileno())
        return self._poller

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as error:
            _write_failed(error, "connection")

    def set_read_timeout(self, seconds: Optional[float]) -> None:
        """Reads give up after ``seconds`` (:class:`ReadTimeout`; None or
        0: never), and so do writes.

        Where the system has them (POSIX) the socket stays blocking and
        the kernel keeps the time (SO_RCVTIMEO, SO_SNDTIMEO): a Python
        socket timeout would poll() before every recv and every send, two
        system calls a request more."""
        seconds = seconds or None
        self._timeout = seconds
        if os.name == "nt" or not hasattr(socket, "SO_RCVTIMEO"):
            self.sock.settimeout(seconds)
            return
        whole = int(seconds or 0)
        value = struct.pack("ll", whole, int(((seconds or 0) - whole) * 1e6))
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)

    def shutdown_write(self) -> None:
        """Send end of file; reading goes on."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def shutdown(self) -> None:
        """Wake a thread blocked reading: its read returns end of file."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


_HOW_TO_RUN = (
    "this program is meant to be started by a FastCGI web server (IIS,"
    " nginx, Apache), which gives it a pipe or socket as standard input; to"
    " run it yourself, give it an address to listen on: `iiswsgi serve"
    " app.ini --port 9000` (or host/port/socket in the ini's [server:main])")


def inspect_stdin(
        fd: int = STDIN_FILENO,
) -> Tuple[str, Optional[socket.socket]]:
    """What the web server gave as standard input.

    Returns ``("pipe", None)`` for a connected duplex channel or
    ``("listen", sock)`` for a listening socket.  Raises
    :class:`StdinUnusable` with a message saying what to do for anything
    else (a terminal, a file, nothing).
    """
    if os.name == "nt":
        kind = _winapi().stdin_kind(fd)
        if kind == "pipe":
            return "pipe", None
        if kind == "socket":
            # IIS's protocol="Tcp" gives a listening IPv4 socket.  Its
            # family is given, not detected: detection needs calls that
            # hang on an inherited socket under Wine.
            return "listen", socket.socket(
                socket.AF_INET, socket.SOCK_STREAM, 0,
                _winapi().socket_handle(fd))
        raise StdinUnusable("standard input is %s: %s" % (
            _WINDOWS_KINDS.get(kind, kind), _HOW_TO_RUN))
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        raise StdinUnusable("standard input is closed: " + _HOW_TO_RUN)
    if stat.S_ISSOCK(mode):
        return _socket_kind(socket.socket(fileno=os.dup(fd)))
    if stat.S_ISFIFO(mode):
        raise StdinUnusable(
            "standard input is a one-way pipe, which cannot carry replies: "
            + _HOW_TO_RUN)
    if os.isatty(fd):
        raise StdinUnusable("standard input is a terminal: " + _HOW_TO_RUN)
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise StdinUnusable("standard input is a device (%s), not a pipe or"
                            " socket: %s" % (_device_name(fd), _HOW_TO_RUN))
    raise StdinUnusable("standard input is a file: " + _HOW_TO_RUN)


def _device_name(fd):
    try:
        return os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        return "character device"


_WINDOWS_KINDS = {"char": "a console", "disk": "a file",
                  "invalid": "closed", "unknown": "not a pipe or socket"}


def _socket_kind(sock):
    try:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError:
        listening = _listening_by_peer(sock)
    if listening:
        return "listen", sock
    sock.close()
    return "pipe", None


def _listening_by_peer(sock):
    # Without SO_ACCEPTCONN: a connected socket has a peer.
    try:
        sock.getpeername()
    except OSError as error:
        if error.errno == errno.ENOTCONN:
            return True
        raise
    return False


def bind(address: Union[str, Tuple[Optional[str], int]],
         umask: Optional[int] = None,
         backlog: int = socket.SOMAXCONN) -> socket.socket:
    """A listening socket on ``address``: a Unix socket path, or a
    ``(host, port)`` pair.  ``umask`` applies while a path is created."""
    if isinstance(address, str):
        return _bind_unix(address, umask, backlog)
    host, port = address
    infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC,
                               socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def _bind_unix(path, umask, backlog):
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)  # left by an earlier run
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(umask) if umask is not None else None
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    finally:
        if old_umask is not None:
            os.umask(old_umask)
    return sock


def protect_standard_streams(channel_fd: int = STDIN_FILENO) -> None:
    """Keep the application's output off the FastCGI channel.

    Under IIS, stdout and stderr are invalid handles (``sys.stdout`` is
    None); elsewhere a launcher may have pointed them at the channel itself.
    Either way ``print()`` must neither fail nor corrupt the responses:
    ``sys.stdout`` and ``sys.stderr`` become writers into the log, and a
    descriptor 1 or 2 that is the channel is pointed at the null device.
    """
    if os.name != "nt":
        try:
            channel = os.fstat(channel_fd)
        except OSError:
            channel = None
        for fd in (1, 2):
            try:
                same = channel is not None and os.path.samestat(
                    os.fstat(fd), channel)
            except OSError:
                continue
            if same:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
    # "iiswsgi.stdout" and "iiswsgi.stderr" are channels (the application's
    # output), not modules: their names say where the lines came from.
    sys.stdout = logs.LogWriter(logging.getLogger("iiswsgi.stdout"),
                                logging.INFO)
    sys.stderr = logs.LogWriter(logging.getLogger("iiswsgi.stderr"),
                                logging.WARNING)
