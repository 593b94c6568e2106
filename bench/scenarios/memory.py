"""Memory: iiswsgi alone in IIS mode with bench_apps.memory; the growth of
its peak RSS for an upload read in 64 KiB blocks, and its RSS while it
streams a large response the driver reads and drops."""

import os
import subprocess
import tempfile
from typing import Dict, Tuple

from harness import BenchError, Run
from harness.pipe import events, gateway_on_pipe, iis_server_variables, \
    read_response
from harness.processes import child_env, proc_status_kib, tail
from iiswsgi.protocol import fastcgi

NAME = "memory"


def sizes(quick: bool) -> Tuple[int, int]:
    """(upload MiB, streamed response MiB)."""
    return (20, 100) if quick else (200, 1024)


def settings(run: Run) -> str:
    return ("memory: a %d MiB upload and a %d MiB streamed response"
            % sizes(run.quick))


def memory_request(connection: fastcgi.ClientConnection, app_dir: str,
                   path: str, query: str = "", method: str = "GET",
                   length: int = 0, rid: int = 1) -> bytes:
    """BEGIN_REQUEST and the PARAMS, written with ``connection``; the body
    is the caller's."""
    variables = dict(iis_server_variables(app_dir, path))
    variables.update(QUERY_STRING=query, REQUEST_METHOD=method,
                     CONTENT_LENGTH=str(length))
    return (connection.begin_request(rid)
            + connection.send_params(rid, variables))


def measure_iiswsgi(python: str, scratch: str, upload_mib: int,
                    stream_mib: int) -> Dict[str, object]:
    """iiswsgi in IIS mode: peak RSS growth for an upload of
    ``upload_mib`` MiB read in blocks, and RSS while it streams a
    ``stream_mib`` MiB response."""
    app_dir = tempfile.mkdtemp(prefix="app-", dir=scratch)
    log = os.path.join(scratch, "memory.log")
    env = child_env(WSGI_HANDLER="bench_apps.memory", WSGI_LOG=log)
    with gateway_on_pipe([python, "-m", "iiswsgi"], app_dir, env,
                         subprocess.DEVNULL, 10) as (process, parent):
        pid = process.pid
        parent.settimeout(60)
        connection = fastcgi.ClientConnection()
        try:
            parent.sendall(memory_request(connection, app_dir, "/stream",
                                          "10")
                           + connection.send_stdin(1, b""))
            read_response(parent, connection=connection)
            before = proc_status_kib(pid, "VmHWM")
            size = upload_mib << 20
            parent.sendall(memory_request(connection, app_dir, "/upload",
                                          method="POST", length=size))
            block = connection.send_stdin(1, b"u" * 65535)
            sent = 0
            while sent + 65535 <= size:
                parent.sendall(block)
                sent += 65535
            parent.sendall(connection.send_stdin(1, b"u" * (size - sent))
                           + connection.send_stdin(1, b""))
            _, stdout, _, _, _ = read_response(parent, connection=connection)
            if not stdout.endswith(str(size).encode()):
                raise BenchError("the upload answer was %r" % stdout[-100:])
            upload_growth = proc_status_kib(pid, "VmHWM") - before
            total = stream_mib << 20
            parent.sendall(memory_request(connection, app_dir, "/stream",
                                          str(total))
                           + connection.send_stdin(1, b""))
            received = 0
            samples = []
            next_sample = 0
            done = False
            while not done:
                data = parent.recv(1 << 20)
                if not data:
                    raise BenchError("the gateway closed the pipe"
                                     " mid-stream")
                connection.receive_data(data)
                # Count the body bytes record by record; drop what is read.
                for event in events(connection):
                    if isinstance(event, fastcgi.Stdout):
                        received += len(event.data)
                    elif isinstance(event, fastcgi.EndRequest):
                        done = True
                if received >= next_sample:
                    samples.append(proc_status_kib(pid, "VmRSS"))
                    next_sample += total // 10
            if received < total:
                raise BenchError("streamed %d of %d bytes"
                                 % (received, total))
        except (BenchError, OSError) as error:
            raise BenchError("memory: %s\n-- log:\n%s" % (error, tail(log))) \
                from None
    return {"upload_mib": upload_mib, "upload_growth_kib": upload_growth,
            "stream_mib": stream_mib, "stream_rss_kib": samples}


def measure(run: Run) -> Dict[str, object]:
    upload_mib, stream_mib = sizes(run.quick)
    results = measure_iiswsgi(run.python, run.scratch, upload_mib,
                              stream_mib)
    print("memory: upload of %d MiB: peak RSS +%.1f MiB; streaming"
          " %d MiB: RSS %s MiB" % (
              upload_mib, results["upload_growth_kib"] / 1024.0, stream_mib,
              ", ".join("%.1f" % (kib / 1024.0)
                        for kib in results["stream_rss_kib"])), flush=True)
    return results
