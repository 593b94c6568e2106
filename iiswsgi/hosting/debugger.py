"""wfastcgi's WSGI_PTVSD_SECRET and WSGI_PTVSD_ADDRESS: a remote debugger
that only a client proving the secret reaches.

A debugger attached to the gateway pauses it and runs any code as the
application pool's identity, so it is never reachable without the secret,
not by other local users or other application pools either.  debugpy
checks no secret, so it never listens here: on WSGI_PTVSD_ADDRESS an
authenticating relay listens instead.  The relay's handshake (version 1):

1. the relay sends ``IISWSGI-DEBUG 1 <nonce>\\n``, the nonce 32 random
   bytes in hex;
2. the client answers within 10 seconds with
   ``<HMAC-SHA256(key=secret, message=nonce bytes) in hex>\\n``;
3. the relay compares it (:func:`hmac.compare_digest`); if it is wrong the
   connection is closed with nothing more sent, and the refusal is logged.
   If it is right, the gateway opens a listener on an ephemeral port of
   127.0.0.1, calls :func:`debugpy.connect` to it (debugpy connects out;
   it spawns no adapter), accepts the one connection whose peer is
   debugpy's own socket in this process, and closes the listener at once.
   Then the relay sends ``OK\\n`` and passes bytes both ways between the
   client and debugpy (pydevd's side of the Debug Adapter Protocol).  One
   client at a time; debugpy connects out again for the next one.
   debugpy's subprocess patching is turned off, so no child process ever
   dials a port that is closed by then and may be anyone's.

On the developer's machine Visual Studio Code attaches with ``"listen"``
(its debug adapter waits for debugpy to connect), and ``python -m
iiswsgi.hosting.debugger connect HOST:PORT --to 127.0.0.1:5678`` (the
secret from WSGI_PTVSD_SECRET in its environment, else asked for)
connects to that adapter, does the handshake and passes bytes both ways.

The relay listens on a loopback address only (``localhost``,
``127.0.0.1``, ``::1``) unless WSGI_PTVSD_ALLOW_REMOTE is true, which is
logged as a warning; the secret is needed either way, and must be at
least 8 characters.  ptvsd is used only in its 3.x releases, which check
the secret themselves; later ones take none and are refused.
"""

import argparse
import getpass
import hashlib
import hmac
import ipaddress
import logging
import os
import socket
import sys
import threading
import time
from typing import Callable, List, Optional, Sequence, Tuple, Union

from .. import settings as options_table

__all__ = ["DebugRelay", "HANDSHAKE_TIMEOUT", "MIN_SECRET", "connect_proof",
           "forward", "main", "start_debugger"]

log = logging.getLogger(__name__)

#: The relay's first line starts so, then the nonce.
BANNER = b"IISWSGI-DEBUG 1 "
#: Seconds a client has to prove the secret.
HANDSHAKE_TIMEOUT = 10.0
#: The shortest secret accepted.
MIN_SECRET = 8
#: Handshakes in progress at once; more connections wait to be accepted.
MAX_HANDSHAKES = 4
#: Seconds a refused client waits before its connection closes, so the
#: secret cannot be guessed quickly.
REFUSAL_DELAY = 1.0
#: Seconds debugpy has to connect to the inner port once a client is in.
INNER_TIMEOUT = 10.0

_LINE_LIMIT = 256
_relays: List["DebugRelay"] = []


def connect_proof(secret: str, nonce_hex: str) -> str:
    """The answer to the relay's nonce: HMAC-SHA256 of the nonce's bytes,
    keyed with the secret (UTF-8), in hex."""
    return hmac.new(secret.encode("utf-8"), bytes.fromhex(nonce_hex),
                    hashlib.sha256).hexdigest()


def _read_line(sock: socket.socket, deadline: float) -> Optional[bytes]:
    """One line (without its newline) read before ``deadline``; None when
    the peer closes, is too slow or sends more than a line's worth."""
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or len(data) > _LINE_LIMIT:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(_LINE_LIMIT)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    line, _, rest = data.partition(b"\n")
    if rest:
        # A client that does not wait for OK is not one that did the
        # handshake (a debugger speaking DAP at once, say).
        return None
    return line.rstrip(b"\r")


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(1 << 16)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _splice(one: socket.socket, other: socket.socket) -> None:
    """Pass bytes both ways until either side closes; then close both."""
    one.settimeout(None)
    other.settimeout(None)
    back = threading.Thread(target=_pipe, args=(other, one), daemon=True,
                            name="iiswsgi-debug-relay")
    back.start()
    _pipe(one, other)
    back.join()
    one.close()
    other.close()


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                flags=socket.AI_PASSIVE)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
        if exclusive is not None:
            # Windows: no other process may bind the port over this one.
            sock.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(8)
    except OSError:
        sock.close()
        raise
    return sock


class DebugRelay:
    """Listen on ``address`` (host, port); pass the connections of clients
    that prove ``secret`` on to ``target``: a (host, port) to connect to, or
    a callable that returns a connected socket (or None when it cannot)."""

    def __init__(self, address: Tuple[str, int],
                 target: Union[Tuple[str, int],
                               Callable[[], Optional[socket.socket]]],
                 secret: str, timeout: float = HANDSHAKE_TIMEOUT) -> None:
        self.target = target
        self.timeout = timeout
        self._key = secret
        self._sock = _listening_socket(*address)
        self.address: Tuple[str, int] = self._sock.getsockname()[:2]
        self._slots = threading.BoundedSemaphore(MAX_HANDSHAKES)
        self._closed = False

    def start(self) -> "DebugRelay":
        """Accept clients on a thread of its own."""
        threading.Thread(target=self._accept, daemon=True,
                         name="iiswsgi-debug-relay").start()
        return self

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def _accept(self):
        while not self._closed:
            self._slots.acquire()
            try:
                client, peer = self._sock.accept()
            except OSError:
                self._slots.release()
                if self._closed:
                    return
                continue
            threading.Thread(target=self._serve, args=(client, peer),
                             daemon=True, name="iiswsgi-debug-relay").start()

    def _refuse(self, client, peer, why):
        log.warning("refused a debugger connection from %s: %s", peer[0], why)
        time.sleep(REFUSAL_DELAY)
        client.close()

    def _open_target(self) -> Optional[socket.socket]:
        if callable(self.target):
            return self.target()
        try:
            return socket.create_connection(self.target, timeout=10)
        except OSError as error:
            log.warning("the debugger at %s:%d cannot be reached: %s",
                        self.target[0], self.target[1], error)
            return None

    def _serve(self, client, peer):
        try:
            nonce = os.urandom(32).hex()
            try:
                client.sendall(BANNER + nonce.encode("ascii") + b"\n")
            except OSError:
                client.close()
                return
            line = _read_line(client, time.monotonic() + self.timeout)
            expected = connect_proof(self._key, nonce).encode("ascii")
            if line is None:
                return self._refuse(client, peer, "no proof of"
                                    " WSGI_PTVSD_SECRET in time (connect"
                                    " with python -m iiswsgi.hosting."
                                    "debugger connect)")
            if not hmac.compare_digest(line.strip(), expected):
                return self._refuse(client, peer, "wrong proof of"
                                    " WSGI_PTVSD_SECRET")
        finally:
            self._slots.release()
        debuggee = self._open_target()
        if debuggee is None:
            client.close()
            return
        log.info("a debugger connected from %s", peer[0])
        try:
            client.sendall(b"OK\n")
        except OSError:
            client.close()
            debuggee.close()
            return
        _splice(client, debuggee)


class _DebugpyConnector:
    """Hands the relay a connection to this process's debugpy, for one
    authenticated client at a time, without anything listening for longer
    than that: a loopback listener on an ephemeral port is opened, debugpy
    is told to connect out to it (:func:`debugpy.connect`), the one
    connection that comes from this process is accepted and the listener
    closed at once.  A stranger who races to that port is closed, and at
    worst could have talked to the authenticated developer, never to the
    debugger."""

    def __init__(self, debugpy) -> None:
        self._debugpy = debugpy
        self._busy = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def __call__(self) -> Optional[socket.socket]:
        if not self._busy.acquire(blocking=False):
            log.warning("a second debugger proved WSGI_PTVSD_SECRET while one"
                        " is attached; it is closed: detach the first one")
            return None
        if self._thread is not None and self._thread.is_alive():
            self._busy.release()
            log.warning("debugpy is still busy with the previous debugger;"
                        " this one is closed: recycle the application pool"
                        " to debug again")
            return None
        try:
            conn = self._connect()
        except BaseException:
            self._busy.release()
            raise
        if conn is None:
            self._busy.release()
            return None
        return _Released(conn, self._ended)

    def _ended(self) -> None:
        """After a session: a debugger that left before configurationDone
        leaves debugpy.connect waiting for it, which would hold up the
        next one; let it go on."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            try:
                import pydevd
                debugger = pydevd.get_global_debugger()
                if debugger is not None and hasattr(debugger, "ready_to_run"):
                    debugger.ready_to_run = True
            except Exception:
                log.debug("could not release debugpy.connect", exc_info=True)
            thread.join(5)
        self._busy.release()

    def _connect(self) -> Optional[socket.socket]:
        inner = _listening_socket("127.0.0.1", 0)
        failed: List[BaseException] = []

        def connect_out():
            try:
                # Blocks until the debugger's configurationDone.
                self._debugpy.connect(inner.getsockname()[:2])
            except Exception as error:
                failed.append(error)

        try:
            address = inner.getsockname()[:2]
            thread = threading.Thread(target=connect_out, daemon=True,
                                      name="iiswsgi-debugpy-connect")
            self._thread = thread
            thread.start()
            deadline = time.monotonic() + INNER_TIMEOUT
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or failed:
                    log.warning("debugpy did not connect to the relay (%s);"
                                " the debugger is closed",
                                ("%s: %s" % (type(failed[0]).__name__,
                                             failed[0])) if failed
                                else "timed out")
                    return None
                inner.settimeout(remaining)
                try:
                    conn, peer = inner.accept()
                except OSError:
                    continue
                if _from_this_process(conn, address, deadline):
                    conn.settimeout(None)
                    return conn
                log.warning("a connection to the debugger's inner port"
                            " came from %s:%d, not from debugpy in this"
                            " process; it is closed", peer[0], peer[1])
                conn.close()
        finally:
            inner.close()


class _Released:
    """A socket that calls ``ended`` once, when it is closed."""

    def __init__(self, sock: socket.socket, ended: Callable[[], None]
                 ) -> None:
        self._sock = sock
        self._ended = ended
        self._released = False

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def close(self) -> None:
        self._sock.close()
        if not self._released:
            self._released = True
            self._ended()


def _from_this_process(conn: socket.socket, address: Tuple[str, int],
                       deadline: float) -> bool:
    """Whether the connection accepted on ``address`` comes from debugpy's
    own socket in this process: the peer must be the local address of the
    socket pydevd (debugpy's debugger) connected with.  When this debugpy
    does not expose that socket, True with a note in the log."""
    peer = conn.getpeername()[:2]
    try:
        import pydevd
    except ImportError:
        log.info("cannot tell who connected to the inner port (no pydevd"
                 " module); trusting the first connection")
        return True
    while time.monotonic() < deadline:
        debugger = pydevd.get_global_debugger()
        own = getattr(debugger, "_client_socket", None)
        if own is not None:
            try:
                if own.getpeername()[:2] == address:
                    return own.getsockname()[:2] == peer
            except OSError:
                pass
        elif debugger is not None and not hasattr(debugger, "_client_socket"):
            log.info("cannot tell who connected to the inner port (this"
                     " debugpy keeps its socket elsewhere); trusting the"
                     " first connection")
            return True
        time.sleep(0.02)
    return False


def _split_address(address: str) -> Optional[Tuple[str, int]]:
    host, _, port_text = address.strip().rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        return None
    if not 0 <= port <= 65535:
        return None
    return host.strip("[]"), port


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _allow_remote() -> bool:
    opt = next(o for o in options_table.OPTIONS
               if o.env == "WSGI_PTVSD_ALLOW_REMOTE")
    raw = os.environ.get(opt.env)
    if raw is None:
        return False
    try:
        return bool(options_table.convert(opt, raw, options_table.ENVIRONMENT))
    except options_table.SettingsError as error:
        log.warning("%s", error)
        return False


def start_debugger(address: str, secret: str,
                   allow_remote: Optional[bool] = None) -> bool:
    """Listen for a debugger at ``address`` (host:port) behind the
    authenticating relay; True when one listens.  ``allow_remote`` (None:
    the WSGI_PTVSD_ALLOW_REMOTE setting) lets the relay listen on an
    address other than loopback.  The secret is never logged."""
    parsed = _split_address(address)
    if parsed is None:
        log.warning("WSGI_PTVSD_ADDRESS %r is not host:port; not starting"
                    " the debugger", address)
        return False
    host, port = parsed
    host = host or "localhost"
    try:
        import debugpy
    except ImportError:
        debugpy = None
    ptvsd = None
    if debugpy is None:
        try:
            import ptvsd
        except ImportError:
            log.warning("WSGI_PTVSD_SECRET is set but neither debugpy nor"
                        " ptvsd is installed (pip install debugpy); serving"
                        " without a debugger")
            return False
    if len(secret or "") < MIN_SECRET:
        log.warning("WSGI_PTVSD_SECRET has fewer than %d characters; not"
                    " starting the debugger: give a longer one (16 random"
                    " characters or more)", MIN_SECRET)
        return False
    if not _is_loopback(host):
        if allow_remote is None:
            allow_remote = _allow_remote()
        if not allow_remote:
            log.warning("WSGI_PTVSD_ADDRESS %s:%d is not a loopback address;"
                        " not starting the debugger: use localhost:PORT (and"
                        " an SSH or RDP tunnel), or set"
                        " WSGI_PTVSD_ALLOW_REMOTE=true to listen there",
                        host, port)
            return False
        log.warning("WSGI_PTVSD_ALLOW_REMOTE: the debugger listens on %s:%d,"
                    " reachable from other machines by whoever proves"
                    " WSGI_PTVSD_SECRET; the traffic after the handshake is"
                    " not encrypted", host, port)
    if debugpy is None:
        return _start_ptvsd(ptvsd, host, port, secret)
    bind = "127.0.0.1" if host.lower() == "localhost" else host
    try:
        # Children the application starts must not connect to an inner
        # port that is closed by then and may be anyone's.
        debugpy.configure(subProcess=False)
    except Exception as error:
        log.warning("debugpy could not be configured (%s: %s); serving"
                    " without a debugger", type(error).__name__, error)
        return False
    try:
        relay = DebugRelay((bind, port), _DebugpyConnector(debugpy), secret)
    except OSError as error:
        log.warning("the debugger cannot listen on %s:%d (%s); serving"
                    " without a debugger", host, port, error)
        return False
    _relays.append(relay.start())
    log.info("the debugger listens on %s:%d, behind a relay that wants proof"
             " of WSGI_PTVSD_SECRET: on your machine run `python -m"
             " iiswsgi.hosting.debugger connect %s:%d --to 127.0.0.1:5678`"
             " while Visual Studio Code listens there (attach with"
             " \"listen\")", bind, relay.address[1], bind, relay.address[1])
    return True


def _start_ptvsd(ptvsd, host, port, secret):
    version = str(getattr(ptvsd, "__version__", ""))
    if not version.startswith("3."):
        log.warning("ptvsd %s takes no secret, so it cannot check"
                    " WSGI_PTVSD_SECRET; not starting the debugger: pip"
                    " install debugpy", version or "(unknown version)")
        return False
    ptvsd.enable_attach(secret, address=(host, port))
    log.info("ptvsd %s is listening on %s:%d; it checks WSGI_PTVSD_SECRET",
             version, host, port)
    return True


# -- the developer's side ----------------------------------------------------

def _client_handshake(remote: socket.socket, secret: str, where: str
                      ) -> None:
    """Answer the relay's nonce; OSError when it refuses."""
    deadline = time.monotonic() + HANDSHAKE_TIMEOUT
    data = b""
    while b"\n" not in data:
        remote.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = remote.recv(_LINE_LIMIT)
        if not chunk or len(data) > _LINE_LIMIT:
            raise OSError("%s is not an iiswsgi debugger relay" % where)
        data += chunk
    line = data.partition(b"\n")[0].strip()
    if not line.startswith(BANNER.strip()):
        raise OSError("%s is not an iiswsgi debugger relay" % where)
    nonce = line[len(BANNER):].decode("ascii", "replace").strip()
    remote.sendall(connect_proof(secret, nonce).encode("ascii") + b"\n")
    # The relay answers once debugpy has connected to it.
    deadline = time.monotonic() + HANDSHAKE_TIMEOUT + INNER_TIMEOUT
    answer = b""
    while b"\n" not in answer:
        remote.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = remote.recv(16)
        if not chunk:
            raise OSError("%s refused the secret: check WSGI_PTVSD_SECRET"
                          % where)
        answer += chunk
    if answer != b"OK\n":
        raise OSError("%s answered %r, not OK" % (where, answer[:40]))


def forward(remote: Tuple[str, int], secret: str,
            to: Tuple[str, int] = ("127.0.0.1", 5678),
            once: bool = False, retry: float = 1.0) -> None:
    """Connect the debug adapter listening at ``to`` (Visual Studio Code's
    attach with ``"listen"``) to the gateway's relay at ``remote``, after
    proving ``secret`` to it, and pass bytes both ways.  Waits for the
    adapter to listen; after each session waits for the next, until
    interrupted (``once``: one session, then return).  OSError when the
    relay cannot be reached or refuses the secret."""
    where = "%s:%d" % remote
    local_name = "%s:%d" % to
    waiting = False
    while True:
        try:
            local = socket.create_connection(to, timeout=10)
        except OSError:
            if not waiting:
                log.info("waiting for the debugger to listen on %s (attach"
                         " with \"listen\": {\"host\": \"%s\", \"port\": %d})",
                         local_name, to[0], to[1])
                waiting = True
            time.sleep(retry)
            continue
        waiting = False
        try:
            upstream = socket.create_connection(remote, timeout=10)
            try:
                _client_handshake(upstream, secret, where)
            except OSError:
                upstream.close()
                raise
        except OSError as error:
            local.close()
            raise OSError("cannot reach the debugger at %s: %s"
                          % (where, error)) from error
        log.info("the debugger at %s is attached to %s", where, local_name)
        _splice(local, upstream)
        log.info("the debugging session ended")
        if once:
            return


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m iiswsgi.hosting.debugger connect HOST:PORT``."""
    parser = argparse.ArgumentParser(
        prog="python -m iiswsgi.hosting.debugger",
        description="Attach a debugger to an iiswsgi gateway's"
                    " WSGI_PTVSD_ADDRESS: prove WSGI_PTVSD_SECRET to the"
                    " gateway's relay, then connect the gateway's debugpy"
                    " to the debug adapter listening here.")
    commands = parser.add_subparsers(dest="command", required=True)
    connect = commands.add_parser("connect", help="connect a listening"
                                  " debugger to the gateway")
    connect.add_argument("address", help="the gateway's WSGI_PTVSD_ADDRESS"
                         " (host:port), as this machine reaches it")
    connect.add_argument("--to", default="127.0.0.1:5678",
                         help="where the debugger listens (Visual Studio"
                              " Code: attach with \"listen\"; default"
                              " 127.0.0.1:5678)")
    connect.add_argument("--once", action="store_true",
                         help="stop after one debugging session")
    connect.add_argument("--listen", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.listen is not None:
        parser.error("--listen is gone: the gateway's debugpy connects out,"
                     " so let Visual Studio Code listen (attach with"
                     " \"listen\": {\"host\": \"127.0.0.1\", \"port\": 5678})"
                     " and give that address as --to 127.0.0.1:5678")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    remote = _split_address(args.address)
    to = _split_address(args.to)
    if remote is None:
        parser.error("the address %r is not host:port" % args.address)
    if to is None:
        parser.error("--to %r is not host:port" % args.to)
    secret = os.environ.get("WSGI_PTVSD_SECRET") or getpass.getpass(
        "WSGI_PTVSD_SECRET: ")
    try:
        forward((remote[0] or "localhost", remote[1]), secret,
                (to[0] or "127.0.0.1", to[1]), once=args.once)
    except KeyboardInterrupt:
        return 0
    except OSError as error:
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
