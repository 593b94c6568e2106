"""A gateway as IIS's FastCGI module runs it, and the driver that talks to
it: the gateway's standard input is one end of a socketpair, the driver
holds the other and plays the web server with iiswsgi's own
:class:`iiswsgi.protocol.fastcgi.ClientConnection`, sending the server
variables of :func:`iiswsgi.iis.variables.server_variables`."""

import array
import contextlib
import socket
import subprocess
import time
from typing import Iterator, List, Optional, Tuple

from bench_apps import BODY
from harness import REQUEST_PATH, BenchError
from harness.processes import start_process, wait_for_exit
from iiswsgi.iis.variables import server_variables
from iiswsgi.protocol import fastcgi
from iiswsgi.protocol.cgi import MalformedHead, parse_head


@contextlib.contextmanager
def gateway_on_pipe(argv: List[str], cwd: str, env: dict, stderr,
                    exit_timeout: float
                    ) -> Iterator[Tuple[subprocess.Popen, socket.socket]]:
    """Start ``argv`` with one end of a socketpair as standard input
    (standard output to /dev/null) and yield (process, the other end).
    On the way out the driver's end is closed (end of file: the gateway
    exits), the gateway gets ``exit_timeout`` seconds, then its group is
    ended."""
    parent, child = socket.socketpair()
    try:
        process = start_process(argv, stdin=child, stdout=subprocess.DEVNULL,
                                stderr=stderr, cwd=cwd, env=env,
                                close_fds=True)
    except BaseException:
        parent.close()
        raise
    finally:
        child.close()
    try:
        yield process, parent
    finally:
        parent.close()
        wait_for_exit(process, exit_timeout)


def iis_server_variables(app_dir: str, path: str = REQUEST_PATH
                         ) -> List[Tuple[str, str]]:
    """What IIS 10's FastCGI module sends for a browser's GET of ``path``
    in a site's root application at ``app_dir`` (the full set of server
    variables, most of them empty, as IIS sends them)."""
    variables = server_variables(path, path, app_dir, remote_port="51234",
                                 complete=True)
    return list(variables.items()) + [
        ("HTTP_CONNECTION", "keep-alive"),
        ("HTTP_ACCEPT", "text/html,application/xhtml+xml,application/xml;"
                        "q=0.9,image/avif,image/webp,*/*;q=0.8"),
        ("HTTP_ACCEPT_ENCODING", "gzip, deflate, br"),
        ("HTTP_ACCEPT_LANGUAGE", "en-US,en;q=0.9"),
        ("HTTP_HOST", "localhost"),
        ("HTTP_USER_AGENT", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
                            " AppleWebKit/537.36 (KHTML, like Gecko)"
                            " Chrome/124.0 Safari/537.36"),
        ("HTTP_UPGRADE_INSECURE_REQUESTS", "1"),
    ]


def iis_request(app_dir: str, rid: int = 1) -> bytes:
    """BEGIN_REQUEST (responder, KEEP_CONN), the PARAMS, the empty PARAMS
    and the empty STDIN, as one byte string."""
    return fastcgi.ClientConnection().request(
        rid, iis_server_variables(app_dir))


def events(connection: fastcgi.ClientConnection) -> Iterator[object]:
    """The events ``connection`` has in what it was fed, until it needs
    more data."""
    while True:
        try:
            event = connection.next_event()
        except fastcgi.ProtocolError as error:
            raise BenchError("FastCGI: %s" % error) from None
        if event is fastcgi.NEED_DATA:
            return
        yield event


def read_response(sock: socket.socket, rid: int = 1,
                  connection: Optional[fastcgi.ClientConnection] = None):
    """Read records until END_REQUEST for ``rid``; return (raw bytes of the
    exchange, stdout, stderr, app status, protocol status).  Without
    ``connection`` (the one the request was written with), the request
    counts as sent by other means."""
    if connection is None:
        connection = fastcgi.ClientConnection(track_requests=False)
    raw = bytearray()
    stdout, stderr = bytearray(), bytearray()
    while True:
        for event in events(connection):
            if getattr(event, "request_id", 0) != rid:
                raise BenchError("%r, expected a record for request %d"
                                 % (event, rid))
            if isinstance(event, fastcgi.Stdout):
                stdout += event.data
            elif isinstance(event, fastcgi.Stderr):
                stderr += event.data
            elif isinstance(event, fastcgi.EndRequest):
                if connection.buffered:
                    raise BenchError("bytes after END_REQUEST")
                return bytes(raw), bytes(stdout), bytes(stderr), \
                    event.app_status, event.protocol_status
            else:
                raise BenchError("unexpected record %r" % (event,))
        data = sock.recv(1 << 16)
        if not data:
            raise BenchError("the gateway closed the pipe")
        raw += data
        connection.receive_data(data)


def check_cgi_response(stdout: bytes) -> Tuple[int, bytes]:
    """Status and body of a CGI-style response (``Status:`` header); it
    must be bench_apps.hello's 200 and body."""
    try:
        head = parse_head(stdout)
    except MalformedHead as error:
        raise BenchError("%s: %r" % (error, stdout[:200])) from None
    if head.status != 200 or head.body != BODY:
        raise BenchError("wrong response: status %d, body %r"
                         % (head.status, head.body[:200]))
    return head.status, head.body


def checked_exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send ``request``, check the answer is hello's with protocol status
    0 and nothing on FCGI_STDERR; return the raw bytes of the answer."""
    sock.sendall(request)
    raw, stdout, stderr, _app_status, protocol_status = read_response(sock)
    check_cgi_response(stdout)
    if protocol_status != 0 or stderr:
        raise BenchError("protocol status %d, stderr %r"
                         % (protocol_status, stderr[:200]))
    return raw


def sequential(sock: socket.socket, request: bytes, expected: bytes,
               count: int) -> Tuple[array.array, float, float]:
    """Send ``request`` ``count`` times, one after another, each answer
    compared byte for byte with ``expected``; return (latencies in ns,
    elapsed seconds, the driver's own CPU seconds)."""
    send, recv, clock = sock.sendall, sock.recv, time.perf_counter_ns
    size = len(expected)
    latencies = array.array("q")
    add = latencies.append
    cpu = time.process_time()
    begin = clock()
    for _ in range(count):
        started = clock()
        send(request)
        got = recv(65536)
        while len(got) < size:
            more = recv(65536)
            if not more:
                raise BenchError("the gateway closed the pipe")
            got += more
        add(clock() - started)
        if got != expected:
            raise BenchError("answer differs from the first one: %r"
                             % got[:300])
    elapsed = (clock() - begin) / 1e9
    return latencies, elapsed, time.process_time() - cpu
