"""Streaming: a large response and a large upload through iiswsgi in IIS
mode, each against its limit, a plain copy of the same bytes over a
socketpair in 64 KiB writes, timed in the same run and alternated with it
over the rounds.

Every contender is a driver (this process) and one other process with a
socketpair end as standard input:

* ``iiswsgi``: ``python -m iiswsgi`` serving ``bench_apps.memory``.  The
  response: ``GET /stream?BYTES``, the application yields 64 KiB chunks,
  the driver reads and drops them (walking the records to find
  FCGI_END_REQUEST).  The upload: ``POST /upload``, the driver sends the
  body as FCGI_STDIN records of UPLOAD_RECORD bytes, the application reads
  ``wsgi.input`` in 64 KiB blocks and drops them, then answers the size.
* ``copy``: a few lines of Python (PEER below) that, for the response,
  writes the bytes in 64 KiB ``os.write`` calls, and for the upload reads
  them in 64 KiB ``os.read`` calls and answers one byte at the end.

* ``iiswsgi upload, unspooled``: the same upload with
  ``WSGI_SPOOL_BODY=false``: past its 1 MiB threshold ``wsgi.input`` hands
  each piece over as it is read, with no temporary file.

* ``copy upload, spooled``: the upload copy, each block also written to
  a temporary file: what any gateway that keeps a large body on disk
  (iiswsgi past its 1 MiB spool threshold, so ``wsgi.input`` can be
  rewound) pays at the least.

Each transfer is timed from the driver's first write (the request, or
the copy's go byte) to the last byte of the answer; the process is
started and warmed up (one small request) before.
"""

import os
import socket
import struct
import subprocess
import tempfile
import time
from typing import Dict, List, Optional, Tuple

from harness import BenchError, Run
from harness.pipe import gateway_on_pipe, read_response
from harness.processes import child_env, tail
from harness.rounds import alternate
from harness.stats import median, ratio, spread
from iiswsgi.protocol import fastcgi
from scenarios.memory import memory_request

NAME = "streaming"

#: The body bytes of each FCGI_STDIN record the driver sends: the largest
#: a record holds, the fewest records (and headers) for the body.
UPLOAD_RECORD = 65535
BLOCK = 65536
#: How much one driver read asks for.
DRIVER_READ = 1 << 20

#: The copy's other end: ``send BYTES`` writes them in 64 KiB blocks
#: after a go byte; ``recv BYTES`` reads them in 64 KiB blocks, then
#: answers one byte; ``spool BYTES`` does the same and writes each block
#: to a temporary file, as a gateway that keeps the body must past its
#: spool threshold.  Each says it is ready with one byte first.
PEER = r"""
import os, sys
mode, total = sys.argv[1], int(sys.argv[2])
os.write(0, b"r")
if not os.read(0, 1):
    sys.exit(1)
if mode == "send":
    block = memoryview(b"s" * 65536)
    left = total
    while left > 0:
        piece = block[:min(left, 65536)]
        while piece:
            piece = piece[os.write(0, piece):]
        left -= 65536
else:
    spool = None
    if mode == "spool":
        import tempfile
        spool = tempfile.TemporaryFile()
    got = 0
    while got < total:
        data = os.read(0, 65536)
        if not data:
            sys.exit(1)
        if spool is not None:
            spool.write(data)
        got += len(data)
    os.write(0, b"k")
"""

#: (name, direction, kind) of each contender, in the report's order.
CONTENDERS = (
    ("iiswsgi response", "response", "iiswsgi"),
    ("copy response", "response", "copy"),
    ("iiswsgi upload", "upload", "iiswsgi"),
    ("iiswsgi upload, unspooled", "upload", "unspooled"),
    ("copy upload", "upload", "copy"),
    ("copy upload, spooled", "upload", "spool"),
)


def size_mib(quick: bool) -> int:
    """How many MiB each transfer moves."""
    return 64 if quick else 1024


def settings(run: Run) -> str:
    return ("streaming: %d MiB responses and uploads, %d rounds"
            % (size_mib(run.quick), run.rounds))


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        more = sock.recv(count - len(data))
        if not more:
            raise BenchError("the other end closed the socketpair")
        data += more
    return data


def drain_records(sock: socket.socket) -> Tuple[int, bytes, bytes]:
    """Read FastCGI records from ``sock`` until FCGI_END_REQUEST, keeping
    only what is needed: (FCGI_STDOUT content bytes, the first 256 of
    them, FCGI_STDERR content).  Per record it only reads the header (in
    place, unless a read cut it), so its cost per byte stays near the
    copy's plain reads."""
    header = fastcgi.HEADER_LEN
    unpack = struct.Struct("!BBHHBx").unpack_from
    buffer = bytearray(DRIVER_READ)
    view = memoryview(buffer)
    carry = b""         # a header cut by the end of a read
    left = 0            # content + padding of the record still to come
    stdout = 0
    first = b""
    stderr = b""
    kind = 0
    recv_into = sock.recv_into
    STDOUT, STDERR, END = (fastcgi.STDOUT, fastcgi.STDERR,
                           fastcgi.END_REQUEST)
    while True:
        count = recv_into(buffer)
        if not count:
            raise BenchError("the gateway closed the pipe mid-response")
        pos = 0
        while pos < count:
            if left:
                take = left if left <= count - pos else count - pos
                if kind == STDOUT:
                    if len(first) < 256:
                        first += bytes(view[pos:pos + min(take, 256)])
                elif kind == STDERR:
                    stderr += bytes(view[pos:pos + take])
                pos += take
                left -= take
                if not left and kind == END:
                    return stdout, first[:256], stderr
                continue
            if carry or count - pos < header:
                need = header - len(carry)
                carry += bytes(view[pos:pos + need])
                pos += min(need, count - pos)
                if len(carry) < header:
                    continue
                _, kind, _, clen, plen = unpack(carry)
                carry = b""
            else:
                _, kind, _, clen, plen = unpack(buffer, pos)
                pos += header
            left = clen + plen
            if kind == STDOUT:
                stdout += clen
            elif kind == END and not left:
                return stdout, first[:256], stderr


def _check_answer(first: bytes, stderr: bytes, what: str) -> None:
    if not first.startswith(b"Status: 200") or stderr:
        raise BenchError("%s: answer %r, stderr %r"
                         % (what, first[:100], stderr[:200]))


def _gateway(python: str, direction: str, size: int, scratch: str,
             spool_body: bool = True) -> float:
    """Seconds iiswsgi takes for one transfer of ``size`` bytes (an
    upload with ``spool_body`` false: WSGI_SPOOL_BODY=false)."""
    app_dir = tempfile.mkdtemp(prefix="app-", dir=scratch)
    log = os.path.join(scratch, "streaming.log")
    errors = os.path.join(scratch, "streaming.stderr")
    env = child_env(WSGI_HANDLER="bench_apps.memory", WSGI_LOG=log,
                    WSGI_SPOOL_BODY="true" if spool_body else "false")
    with open(errors, "ab") as stderr, \
            gateway_on_pipe([python, "-m", "iiswsgi"], app_dir, env, stderr,
                            10) as (_process, parent):
        try:
            parent.settimeout(120)
            connection = fastcgi.ClientConnection()
            # The warm-up: the first request imports the application.
            parent.sendall(memory_request(connection, app_dir, "/stream",
                                          "10")
                           + connection.send_stdin(1, b""))
            read_response(parent, connection=connection)
            if direction == "response":
                request = (memory_request(connection, app_dir, "/stream",
                                          str(size))
                           + connection.send_stdin(1, b""))
                started = time.perf_counter()
                parent.sendall(request)
                got, first, err = drain_records(parent)
                elapsed = time.perf_counter() - started
                _check_answer(first, err, "response")
                if got - first.index(b"\r\n\r\n") - 4 != size:
                    raise BenchError("response of %d bytes, expected %d"
                                     " and the head" % (got, size))
                return elapsed
            head = memory_request(connection, app_dir, "/upload",
                                  method="POST", length=size)
            block = connection.send_stdin(1, b"u" * UPLOAD_RECORD)
            full, rest = divmod(size, UPLOAD_RECORD)
            tail_records = (connection.send_stdin(1, b"u" * rest)
                            + connection.send_stdin(1, b""))
            send = parent.sendall
            started = time.perf_counter()
            send(head)
            for _ in range(full):
                send(block)
            send(tail_records)
            _, stdout, err, _, _ = read_response(parent,
                                                 connection=connection)
            elapsed = time.perf_counter() - started
            _check_answer(stdout, err, "upload")
            if not stdout.endswith(b"\r\n\r\n%d" % size):
                raise BenchError("the upload answer was %r" % stdout[-100:])
            return elapsed
        except (BenchError, OSError) as error:
            raise BenchError("streaming: iiswsgi %s: %s\n-- stderr:\n%s"
                             "-- log:\n%s" % (direction, error, tail(errors),
                                              tail(log))) from None


def _copy(python: str, direction: str, size: int, scratch: str,
          spooled: bool = False) -> float:
    """Seconds the plain socketpair copy takes for ``size`` bytes (and,
    ``spooled``, the upload written to a temporary file too)."""
    mode = ("send" if direction == "response" else
            "spool" if spooled else "recv")
    argv = [python, "-c", PEER, mode, str(size)]
    errors = os.path.join(scratch, "copy.stderr")
    with open(errors, "ab") as stderr, \
            gateway_on_pipe(argv, scratch, child_env(), stderr, 10) \
            as (_process, parent):
        try:
            parent.settimeout(120)
            _recv_exactly(parent, 1)
            if direction == "response":
                buffer = bytearray(DRIVER_READ)
                recv_into = parent.recv_into
                got = 0
                started = time.perf_counter()
                parent.sendall(b"g")
                while got < size:
                    count = recv_into(buffer)
                    if not count:
                        raise BenchError("the copy ended after %d bytes"
                                         % got)
                    got += count
                return time.perf_counter() - started
            block = b"u" * BLOCK
            full, rest = divmod(size, BLOCK)
            send = parent.sendall
            started = time.perf_counter()
            send(b"g")
            for _ in range(full):
                send(block)
            if rest:
                send(block[:rest])
            _recv_exactly(parent, 1)
            return time.perf_counter() - started
        except (BenchError, OSError) as error:
            raise BenchError("streaming: copy %s: %s\n-- stderr:\n%s"
                             % (direction, error, tail(errors))) from None


def _announce(rounds: int, size: int):
    def announce(index, name, seconds):
        print("STREAM round %d/%d %-25s %7.0f MiB/s" % (
            index + 1, rounds, name, size / seconds / (1 << 20)),
            flush=True)
    return announce


def measure(run: Run) -> Dict[str, object]:
    """Seconds per transfer, per contender and round."""
    size = size_mib(run.quick) << 20

    def one(name, spec):
        direction, kind = spec
        if kind in ("iiswsgi", "unspooled"):
            return _gateway(run.python, direction, size, run.scratch,
                            spool_body=kind == "iiswsgi")
        return _copy(run.python, direction, size, run.scratch,
                     spooled=kind == "spool")

    seconds = alternate([(name, (direction, kind))
                         for name, direction, kind in CONTENDERS],
                        run.rounds, one, _announce(run.rounds, size))
    return {"mib": size >> 20, "seconds": seconds}


def summarize(results: Dict[str, object]) -> Dict[str, dict]:
    """Per contender: median MiB/s over rounds and its range."""
    if not results:
        return {}
    mib = results["mib"]
    summary = {}
    for name, rounds in results["seconds"].items():
        rates = [mib / s for s in rounds]
        summary[name] = {"mib_s": median(rates), "range": spread(rates),
                         "mib": mib}
    return summary


def comparisons(summary: Dict[str, dict]
                ) -> List[Tuple[str, Optional[float]]]:
    """(label, throughput ratio iiswsgi / copy) for the response and the
    upload (the target: at least 0.7)."""
    rows = []
    for direction in ("response", "upload"):
        mine = summary.get("iiswsgi " + direction)
        theirs = summary.get("copy " + direction)
        if mine and theirs:
            rows.append(("streaming %s: iiswsgi / socketpair copy"
                         % direction,
                         ratio(mine["mib_s"], theirs["mib_s"])))
    mine = summary.get("iiswsgi upload, unspooled")
    theirs = summary.get("copy upload")
    if mine and theirs:
        rows.append(("streaming upload, spool_body false: iiswsgi /"
                     " socketpair copy", ratio(mine["mib_s"],
                                               theirs["mib_s"])))
    return rows


def spool_comparison(summary: Dict[str, dict]) -> Optional[float]:
    """The upload's throughput over the spooled copy's (not a target: how
    near iiswsgi comes to a copy that keeps the body on disk too)."""
    mine = summary.get("iiswsgi upload")
    theirs = summary.get("copy upload, spooled")
    if mine and theirs:
        return ratio(mine["mib_s"], theirs["mib_s"])
    return None
