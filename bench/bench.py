"""The benchmark driver; ``bench/run`` builds the virtualenv and calls it.

Two benchmarks, each run in rounds that alternate the contenders (each
round starts every contender afresh, in a rotated order), reporting the
median over rounds and ratios computed within this one run:

* IIS mode: the gateway is started as IIS's FastCGI module starts it, one
  end of a socketpair as standard input and FCGI_KEEP_CONN set, and sent
  hello-world requests one after another; requests/s and per-request
  latency (p50, p99) as the driver sees them.
* nginx: nginx in front of a Unix-socket FastCGI backend (keep-alive
  connections), loaded by wrk with 1 and 4 connections.

Only loopback and Unix sockets are used; every loop is bounded; every
process started is ended by its process group id, also on errors.
"""

import argparse
import array
import atexit
import datetime
import http.client
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from iiswsgi.iis.variables import server_variables
from iiswsgi.protocol import fastcgi
from iiswsgi.protocol.cgi import MalformedHead, parse_head

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORK = os.path.join(BENCH, ".work")
README = os.path.join(BENCH, "README.md")
RESULTS_START = "<!-- results:start -->"
RESULTS_END = "<!-- results:end -->"

EXPECTED_BODY = b"Hello, World!"
REQUEST_PATH = "/hello"

# -- processes ----------------------------------------------------------

_started = []  # Popen objects, each the leader of its own process group


def start_process(argv, **kw):
    process = subprocess.Popen(argv, start_new_session=True, **kw)
    _started.append(process)
    return process


def stop_process(process, sig=signal.SIGTERM, timeout=5.0):
    """Signal the process group ``process`` leads; kill it if it lingers."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # Whatever is left of its group (nginx workers, flup threads' process).
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    if process in _started:
        _started.remove(process)


def stop_all():
    for process in list(_started):
        stop_process(process, signal.SIGKILL, timeout=2.0)


def _on_signal(number, frame):
    stop_all()
    raise SystemExit(128 + number)


class BenchError(Exception):
    pass


def child_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [BENCH] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                   if p])
    env.pop("WSGI_LOG", None)
    env.pop("WSGI_HANDLER", None)
    env.update(extra)
    return env


def tail(path, lines=15):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# -- FastCGI, the web server's side ---------------------------------------
# iiswsgi's own: the contenders are checked and driven with the web
# server's side of iiswsgi.protocol.fastcgi and iiswsgi.protocol.cgi.

def iis_server_variables(app_dir, path=REQUEST_PATH):
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


def iis_request(app_dir, rid=1):
    """BEGIN_REQUEST (responder, KEEP_CONN), the PARAMS, the empty PARAMS
    and the empty STDIN, as one byte string."""
    return fastcgi.ClientConnection().request(
        rid, iis_server_variables(app_dir))


def read_response(sock, rid=1, connection=None):
    """Read records until END_REQUEST for ``rid``; return (raw bytes of the
    exchange, stdout, stderr, app status, protocol status).  Without
    ``connection`` (the one the request was written with), the request
    counts as sent by other means."""
    if connection is None:
        connection = fastcgi.ClientConnection(track_requests=False)
    raw = bytearray()
    stdout, stderr = bytearray(), bytearray()
    while True:
        try:
            event = connection.next_event()
        except fastcgi.ProtocolError as error:
            raise BenchError("FastCGI: %s" % error) from None
        if event is fastcgi.NEED_DATA:
            data = sock.recv(1 << 16)
            if not data:
                raise BenchError("the gateway closed the pipe")
            raw += data
            connection.receive_data(data)
            continue
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


def check_cgi_response(stdout):
    """Status and body of a CGI-style response (``Status:`` header)."""
    try:
        head = parse_head(stdout)
    except MalformedHead as error:
        raise BenchError("%s: %r" % (error, stdout[:200])) from None
    if head.status != 200 or head.body != EXPECTED_BODY:
        raise BenchError("wrong response: status %d, body %r"
                         % (head.status, head.body[:200]))
    return head.status, head.body


# -- IIS mode -----------------------------------------------------------

def iis_contenders(python):
    return [
        ("iiswsgi", [python, "-m", "iiswsgi"]),
        ("wfastcgi", [python, os.path.join(BENCH, "wfastcgi_launcher.py")]),
        ("minimal", [python, os.path.join(BENCH, "minimal_responder.py")]),
    ]


def run_pipe_contender(name, argv, requests, warmup, scratch):
    """Start ``argv`` as IIS would, check its answer, then time
    ``requests`` sequential keep-conn requests."""
    app_dir = tempfile.mkdtemp(prefix="app-", dir=scratch)  # stays empty
    log = os.path.join(scratch, "%s.log" % name)
    errors = os.path.join(scratch, "%s.stderr" % name)
    env = child_env(WSGI_HANDLER="bench_apps.hello", WSGI_LOG=log)
    parent, child = socket.socketpair()
    with open(errors, "ab") as stderr:
        process = start_process(argv, stdin=child, stdout=subprocess.DEVNULL,
                                stderr=stderr, cwd=app_dir, env=env,
                                close_fds=True)
    child.close()
    try:
        parent.settimeout(30)  # the first request imports the application
        request = iis_request(app_dir)
        for _ in range(2):  # the first answer, and one after it
            raw, stdout, stderr_data, app_status, protocol_status = \
                read_response_after(parent, request)
            check_cgi_response(stdout)
            if protocol_status != 0 or stderr_data:
                raise BenchError("protocol status %d, stderr %r"
                                 % (protocol_status, stderr_data[:200]))
        expected = raw
        parent.settimeout(10)
        sequential(parent, request, expected, warmup)
        latencies, elapsed, driver_cpu = sequential(parent, request,
                                                    expected, requests)
        rss = rss_kib(process.pid)
        if process.poll() is not None:
            raise BenchError("exited with status %s" % process.returncode)
    except (BenchError, OSError) as error:
        raise BenchError("%s: %s\n-- stderr:\n%s-- log:\n%s" % (
            name, error, tail(errors), tail(log))) from None
    finally:
        parent.close()  # end of file on the pipe: the gateway exits
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        stop_process(process)
    latencies = sorted(latencies)
    return {
        "requests": requests,
        "rps": requests / elapsed,
        "p50_us": percentile(latencies, 50) / 1000.0,
        "p99_us": percentile(latencies, 99) / 1000.0,
        "rss_kib": rss,
        "driver_cpu_us": driver_cpu / requests * 1e6,
    }


# -- memory -----------------------------------------------------------

def proc_status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise BenchError("no %s for process %d" % (field, pid))


def memory_request(connection, app_dir, path, query="", method="GET",
                   length=0, rid=1):
    """BEGIN_REQUEST and the PARAMS, written with ``connection``; the body
    is the caller's."""
    variables = dict(iis_server_variables(app_dir, path))
    variables.update(QUERY_STRING=query, REQUEST_METHOD=method,
                     CONTENT_LENGTH=str(length))
    return (connection.begin_request(rid)
            + connection.send_params(rid, variables))


def run_memory(python, scratch, upload_mib, stream_mib):
    """iiswsgi in IIS mode: peak RSS growth for an upload of
    ``upload_mib`` MiB read in blocks, and RSS while it streams a
    ``stream_mib`` MiB response."""
    app_dir = tempfile.mkdtemp(prefix="app-", dir=scratch)
    log = os.path.join(scratch, "memory.log")
    env = child_env(WSGI_HANDLER="bench_apps.memory", WSGI_LOG=log)
    parent, child = socket.socketpair()
    process = start_process([python, "-m", "iiswsgi"], stdin=child,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=app_dir, env=env,
                            close_fds=True)
    child.close()
    pid = process.pid
    parent.settimeout(60)
    connection = fastcgi.ClientConnection()
    try:
        parent.sendall(memory_request(connection, app_dir, "/stream", "10")
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
        while True:
            data = parent.recv(1 << 20)
            if not data:
                raise BenchError("the gateway closed the pipe mid-stream")
            connection.receive_data(data)
            # Count the body bytes record by record; drop what is read.
            done = False
            while True:
                try:
                    event = connection.next_event()
                except fastcgi.ProtocolError as error:
                    raise BenchError("FastCGI: %s" % error) from None
                if event is fastcgi.NEED_DATA:
                    break
                if isinstance(event, fastcgi.Stdout):
                    received += len(event.data)
                elif isinstance(event, fastcgi.EndRequest):
                    done = True
            if received >= next_sample:
                samples.append(proc_status_kib(pid, "VmRSS"))
                next_sample += total // 10
            if done:
                break
        if received < total:
            raise BenchError("streamed %d of %d bytes" % (received, total))
    except (BenchError, OSError) as error:
        raise BenchError("memory: %s\n-- log:\n%s" % (error, tail(log))) \
            from None
    finally:
        parent.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            pass
        stop_process(process)
    return {"upload_mib": upload_mib, "upload_growth_kib": upload_growth,
            "stream_mib": stream_mib, "stream_rss_kib": samples}


# -- packaging ----------------------------------------------------------

def make_package_tree(root, files):
    """The sample Web Deploy project plus ``files`` small modules."""
    sample = os.path.join(os.path.dirname(BENCH), "examples", "sample.msdeploy")
    shutil.copytree(sample, root)
    per_folder = 100
    for index in range(files):
        folder = os.path.join(root, "bigapp", "part%03d" % (index // per_folder))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "module%04d.py" % index), "w") as f:
            f.write("# module %d\nVALUE = %r\n" % (index, "x" * 1500))
    with open(os.path.join(root, "MANIFEST.in"), "a") as f:
        f.write("recursive-include bigapp *.py\n")


def timed(argv, cwd, env):
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise BenchError("%s failed:\n%s" % (" ".join(argv),
                                             done.stderr[-3000:]))
    return elapsed


def run_package(python, scratch, files, rounds):
    """Seconds for ``setup.py bdist_msdeploy`` (with and without its
    install step) and for ``python -m zipfile -c`` of the same tree."""
    root = os.path.join(scratch, "package")
    make_package_tree(root, files)
    env = child_env()
    figures = {"bdist_msdeploy": [], "bdist_msdeploy --skip-install": [],
               "zipfile -c": []}
    commands = {
        "bdist_msdeploy": [python, "setup.py", "-q", "bdist_msdeploy"],
        "bdist_msdeploy --skip-install": [python, "setup.py", "-q",
                                          "bdist_msdeploy", "--skip-install"],
        "zipfile -c": [python, "-m", "zipfile", "-c",
                       os.path.join(scratch, "tree.zip"), "."],
    }
    timed(commands["bdist_msdeploy"], root, env)   # warm-up, egg-info
    for index in range(rounds):
        for name, argv in rotated(list(commands.items()), index):
            for leftover in ("dist", os.path.join(scratch, "tree.zip")):
                path = os.path.join(root, leftover)
                shutil.rmtree(path, ignore_errors=True) if os.path.isdir(
                    path) else (os.path.exists(path) and os.remove(path))
            figures[name].append(timed(argv, root, env))
    return {"files": files, "seconds": {k: median(v) for k, v in
                                        figures.items()}}


def read_response_after(sock, request):
    sock.sendall(request)
    return read_response(sock)


def sequential(sock, request, expected, count):
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


def percentile(ordered, pct):
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100.0 * len(ordered))
                                      - 1))
    return ordered[index]


# -- nginx + wrk --------------------------------------------------------

def nginx_contenders(python, venv_bin):
    ini = os.path.join(BENCH, "hello.ini")
    return [
        ("iiswsgi", lambda sock: [
            os.path.join(venv_bin, "iiswsgi"), "serve", ini,
            "--socket", sock]),
        ("flup", lambda sock: [
            python, os.path.join(BENCH, "flup_server.py"), sock]),
        ("uwsgi", lambda sock: [
            os.path.join(venv_bin, "uwsgi"), "--fastcgi-socket", sock,
            "--wsgi-file", os.path.join(BENCH, "bench_apps.py"),
            "--callable", "hello", "--processes", "1", "--threads", "1",
            "--need-app", "--disable-logging", "--die-on-term",
            "--pythonpath", BENCH]),
    ]


_FASTCGI_PARAMS = [
    ("QUERY_STRING", "$query_string"),
    ("REQUEST_METHOD", "$request_method"),
    ("CONTENT_TYPE", "$content_type"),
    ("CONTENT_LENGTH", "$content_length"),
    ("SCRIPT_NAME", '""'),
    ("PATH_INFO", "$uri"),
    ("REQUEST_URI", "$request_uri"),
    ("SERVER_PROTOCOL", "$server_protocol"),
    ("REQUEST_SCHEME", "$scheme"),
    ("GATEWAY_INTERFACE", "CGI/1.1"),
    ("SERVER_SOFTWARE", "nginx/$nginx_version"),
    ("REMOTE_ADDR", "$remote_addr"),
    ("REMOTE_PORT", "$remote_port"),
    ("SERVER_ADDR", "$server_addr"),
    ("SERVER_PORT", "$server_port"),
    ("SERVER_NAME", "$server_name"),
]


def nginx_config(directory, port, backend_socket):
    user = ""
    if os.geteuid() == 0:
        import grp
        import pwd
        # As root, nginx would run its worker as nobody, who cannot reach
        # the backend's socket in our private directory.
        user = "user %s %s;\n" % (pwd.getpwuid(0).pw_name,
                                   grp.getgrgid(0).gr_name)
    temp = os.path.join(directory, "temp")
    os.makedirs(temp, exist_ok=True)
    params = "".join("            fastcgi_param %s %s;\n" % pair
                     for pair in _FASTCGI_PARAMS)
    return """# Written by bench/bench.py for one benchmark run.
daemon off;
master_process on;
worker_processes 1;
{user}pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 256;
}}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    fastcgi_temp_path {temp}/fastcgi;
    proxy_temp_path {temp}/proxy;
    scgi_temp_path {temp}/scgi;
    uwsgi_temp_path {temp}/uwsgi;
    upstream backend {{
        server unix:{sock};
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        location / {{
            fastcgi_pass backend;
            fastcgi_keep_conn on;
{params}        }}
    }}
}}
""".format(user=user, dir=directory, temp=temp, sock=backend_socket,
           port=port, params=params)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise BenchError("timed out after %gs waiting for %s" % (timeout, what))


def unix_accepts(path):
    if not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
            return True
        except OSError:
            return False


def tcp_accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def http_check(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", REQUEST_PATH)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200 or body != EXPECTED_BODY:
        raise BenchError("through nginx: status %d, body %r"
                         % (response.status, body[:200]))


_WRK_RATE = re.compile(r"Requests/sec:\s*([0-9.]+)")
_WRK_LATENCY = re.compile(r"^\s*(50|99)%\s+([0-9.]+)(us|ms|s)\s*$", re.M)
_WRK_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_UNITS = {"us": 1.0, "ms": 1000.0, "s": 1e6}


def run_wrk(wrk, port, connections, seconds):
    argv = [wrk, "-t1", "-c%d" % connections, "-d%ds" % seconds,
            "--timeout", "5s", "--latency",
            "http://127.0.0.1:%d%s" % (port, REQUEST_PATH)]
    done = subprocess.run(argv, capture_output=True, text=True,
                          timeout=seconds + 30)
    out = done.stdout
    rate = _WRK_RATE.search(out)
    if done.returncode != 0 or rate is None:
        raise BenchError("wrk failed (%d): %s%s" % (done.returncode, out,
                                                    done.stderr))
    latency = {pct: float(value) * _UNITS[unit]
               for pct, value, unit in _WRK_LATENCY.findall(out)}
    socket_errors = _WRK_ERRORS.search(out)
    errors = (sum(int(n) for n in socket_errors.groups())
              if socket_errors else 0)
    non2xx = _WRK_NON2XX.search(out)
    return {"rps": float(rate.group(1)),
            "p50_us": latency.get("50"), "p99_us": latency.get("99"),
            "errors": errors + (int(non2xx.group(1)) if non2xx else 0)}


def run_nginx_contender(name, make_argv, nginx, wrk, connections, seconds,
                        warmup, scratch):
    directory = tempfile.mkdtemp(prefix="nginx-%s-" % name, dir=scratch)
    sock = os.path.join(directory, "backend.sock")
    errors = os.path.join(directory, "backend.stderr")
    env = child_env()
    if name == "iiswsgi":
        argv = make_argv(sock) + ["--log-file",
                                  os.path.join(directory, "iiswsgi.log")]
    else:
        argv = make_argv(sock)
    backend = web = None
    try:
        with open(errors, "ab") as stderr:
            backend = start_process(argv, stdin=subprocess.DEVNULL,
                                    stdout=stderr, stderr=stderr,
                                    cwd=directory, env=env)
        wait_until(lambda: unix_accepts(sock) or backend.poll() is not None,
                   20, "%s to listen on %s" % (name, sock))
        if backend.poll() is not None:
            raise BenchError("exited with status %s" % backend.returncode)
        port = free_port()
        config = os.path.join(directory, "nginx.conf")
        with open(config, "w") as f:
            f.write(nginx_config(directory, port, sock))
        with open(os.path.join(directory, "nginx.stderr"), "ab") as stderr:
            web = start_process([nginx, "-p", directory, "-c", config,
                                 "-e", "stderr"], stdin=subprocess.DEVNULL,
                                stdout=stderr, stderr=stderr)
        wait_until(lambda: tcp_accepts(port) or web.poll() is not None, 10,
                   "nginx on port %d" % port)
        if web.poll() is not None:
            raise BenchError("nginx exited: %s" % tail(
                os.path.join(directory, "nginx.stderr")))
        http_check(port)
        http_check(port)
        if warmup:
            run_wrk(wrk, port, max(connections), warmup)
        results = {}
        for count in connections:
            results["c%d" % count] = run_wrk(wrk, port, count, seconds)
        if backend.poll() is not None:
            raise BenchError("exited with status %s" % backend.returncode)
        results["rss_kib"] = rss_kib(backend.pid)
        return results
    except (BenchError, OSError, subprocess.SubprocessError) as error:
        raise BenchError("%s behind nginx: %s\n-- backend:\n%s-- nginx:\n%s"
                         % (name, error, tail(errors), tail(os.path.join(
                             directory, "error.log")))) from None
    finally:
        if web is not None:
            stop_process(web, signal.SIGQUIT)
        if backend is not None:
            stop_process(backend)  # uWSGI has --die-on-term


# -- facts about this run -----------------------------------------------

def command_output(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stdout + done.stderr).strip()


def machine_facts():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            memory = "%.0f GiB" % (kib / 1048576.0)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor() or "unknown",
        "memory": memory,
        "kernel": platform.release(),
        "python": "%s (%s)" % (platform.python_version(),
                               platform.python_implementation()),
    }


def versions(nginx, wrk, venv_bin):
    def dist(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    commit = command_output(["git", "-C", ROOT, "describe", "--always",
                             "--dirty"])
    nginx_version = command_output([nginx, "-v"]).rpartition("/")[2]
    wrk_version = command_output([wrk, "--version"]).split("\n")[0]
    wrk_version = (wrk_version.split()[1] if len(wrk_version.split()) > 1
                   else wrk_version)
    return {
        "iiswsgi": "%s (git %s, source %s)" % (
            dist("iiswsgi"), commit or "?", source_fingerprint()),
        "wfastcgi": dist("wfastcgi"),
        "flup": dist("flup"),
        "uWSGI": command_output([os.path.join(venv_bin, "uwsgi"),
                                 "--version"]) or dist("uWSGI"),
        "nginx": nginx_version,
        "wrk": wrk_version,
    }


def source_fingerprint():
    """A short digest of iiswsgi's source, to notice it changing mid-run
    (the checkout is installed editable and may be edited meanwhile)."""
    import hashlib
    digest = hashlib.sha256()
    package = os.path.join(ROOT, "iiswsgi")
    for folder, dirs, files in sorted(os.walk(package)):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                digest.update(os.path.relpath(path, ROOT).encode())
                with open(path, "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()[:12]


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


# -- report -------------------------------------------------------------

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    values = [v for v in values if v is not None]
    return (min(values), max(values)) if values else (None, None)


def fmt(value, digits=0):
    if value is None:
        return "n/a"
    return "{:,.{}f}".format(value, digits)


def ratio(a, b):
    if a is None or b in (None, 0):
        return "n/a"
    return "%.2f" % (a / b)


def summarize(results):
    """Medians per contender and metric."""
    summary = {"iis": {}, "nginx": {}}
    for name, rounds in results["iis"].items():
        summary["iis"][name] = {
            metric: median([r[metric] for r in rounds])
            for metric in ("rps", "p50_us", "p99_us", "rss_kib",
                           "driver_cpu_us")}
        summary["iis"][name]["rps_range"] = spread([r["rps"] for r in rounds])
    for name, rounds in results["nginx"].items():
        entry = {}
        for key in rounds[0]:
            if key == "rss_kib":
                entry[key] = median([r[key] for r in rounds])
                continue
            entry[key] = {metric: median([r[key][metric] for r in rounds])
                          for metric in ("rps", "p50_us", "p99_us")}
            entry[key]["errors"] = sum(r[key]["errors"] for r in rounds)
            entry[key]["rps_range"] = spread([r[key]["rps"] for r in rounds])
        summary["nginx"][name] = entry
    return summary


def report_markdown(results, summary):
    info = results["info"]
    lines = []
    add = lines.append
    add("Recorded by `%s` on %s." % (info["command"], info["date"]))
    add("")
    machine = info["machine"]
    add("- Machine: %s cores, %s, %s RAM, Linux %s; Python %s."
        % (machine["nproc"], machine["cpu"], machine["memory"] or "?",
           machine["kernel"], machine["python"]))
    add("- Versions: " + ", ".join("%s %s" % (k, v) for k, v in
                                   info["versions"].items()) + ".")
    add("- Settings: %s." % info["settings"])
    add("- Load average (1, 5, 15 min) at the start: %s; at the end: %s;"
        " the run took %s s." % (info["load_start"], info.get("load_end"),
                                 info.get("seconds")))
    if info.get("source_changed"):
        add("- **Warning: iiswsgi's source changed during this run**; its"
            " figures mix versions.")
    add("")
    iis = summary["iis"]
    if iis:
        add("### IIS mode: sequential keep-conn requests over the stdin pipe")
        add("")
        add("| contender | requests/s (median) | min–max over rounds"
            " | p50 µs | p99 µs | RSS after | driver CPU µs/req |")
        add("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, entry in iis.items():
            low, high = entry["rps_range"]
            add("| %s | %s | %s–%s | %s | %s | %s MiB | %s |" % (
                name, fmt(entry["rps"]), fmt(low), fmt(high),
                fmt(entry["p50_us"], 1), fmt(entry["p99_us"], 1),
                fmt((entry["rss_kib"] or 0) / 1024.0, 1),
                fmt(entry["driver_cpu_us"], 1)))
        add("")
    nginx = summary["nginx"]
    if nginx:
        add("### nginx + wrk: `fastcgi_pass unix:` with keep-alive,"
            " wrk -t1")
        add("")
        add("| contender | connections | requests/s (median) |"
            " min–max over rounds | p50 µs | p99 µs | errors |")
        add("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, entry in nginx.items():
            for key, figures in entry.items():
                if key == "rss_kib":
                    continue
                low, high = figures["rps_range"]
                add("| %s | %s | %s | %s–%s | %s | %s | %d |" % (
                    name, key[1:], fmt(figures["rps"]), fmt(low), fmt(high),
                    fmt(figures["p50_us"], 0), fmt(figures["p99_us"], 0),
                    figures["errors"]))
        add("")
    memory = results.get("memory")
    if memory:
        samples = memory["stream_rss_kib"]
        add("### Memory: iiswsgi in IIS mode")
        add("")
        add("| measure | figure |")
        add("| --- | ---: |")
        add("| peak RSS growth for a %d MiB upload read in 64 KiB blocks"
            " | %.1f MiB |" % (memory["upload_mib"],
                               memory["upload_growth_kib"] / 1024.0))
        add("| RSS while streaming %d MiB (at 0%%, then every 10%%) | %s MiB |"
            % (memory["stream_mib"], ", ".join(
                "%.1f" % (kib / 1024.0) for kib in samples)))
        add("| RSS growth over the stream | %.1f MiB |"
            % ((max(samples) - samples[0]) / 1024.0))
        add("")
    package = results.get("package")
    if package:
        seconds = package["seconds"]
        base = seconds["zipfile -c"]
        add("### Packaging: an application of %d files" % package["files"])
        add("")
        add("| command | seconds (median) | / zipfile -c |")
        add("| --- | ---: | ---: |")
        for name, value in seconds.items():
            add("| `%s` | %.2f | %s |" % (name, value, ratio(value, base)))
        add("")
    if not (iis or nginx):
        return "\n".join(lines)
    add("### Ratios (iiswsgi / other, medians of this run)")
    add("")
    add("Throughput: above 1 means iiswsgi is faster. Latency: below 1"
        " means iiswsgi is faster.")
    add("")
    add("| comparison | throughput | p50 | p99 |")
    add("| --- | ---: | ---: | ---: |")
    mine = iis.get("iiswsgi")
    for other in ("wfastcgi", "minimal"):
        if mine and other in iis:
            theirs = iis[other]
            add("| IIS mode: iiswsgi / %s | %s | %s | %s |" % (
                other, ratio(mine["rps"], theirs["rps"]),
                ratio(mine["p50_us"], theirs["p50_us"]),
                ratio(mine["p99_us"], theirs["p99_us"])))
    mine = nginx.get("iiswsgi")
    for other in ("flup", "uwsgi"):
        if mine and other in nginx:
            for key in mine:
                if key == "rss_kib" or key not in nginx[other]:
                    continue
                add("| nginx %s conn.: iiswsgi / %s | %s | %s | %s |" % (
                    key[1:], other,
                    ratio(mine[key]["rps"], nginx[other][key]["rps"]),
                    ratio(mine[key]["p50_us"], nginx[other][key]["p50_us"]),
                    ratio(mine[key]["p99_us"], nginx[other][key]["p99_us"])))
    add("")
    return "\n".join(lines)


def rewrite_readme(markdown):
    with open(README, encoding="utf-8") as f:
        text = f.read()
    start = text.find(RESULTS_START)
    end = text.find(RESULTS_END)
    if start < 0 or end < start:
        raise BenchError("%s has no %s ... %s section"
                         % (README, RESULTS_START, RESULTS_END))
    text = (text[:start + len(RESULTS_START)] + "\n" + markdown + "\n"
            + text[end:])
    with open(README, "w", encoding="utf-8") as f:
        f.write(text)


# -- main ---------------------------------------------------------------

def rotated(items, round_index):
    shift = round_index % len(items)
    return items[shift:] + items[:shift]


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="bench/run", description="Benchmark iiswsgi against wfastcgi,"
        " a minimal responder, flup and uWSGI.")
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run: 1 round, few requests,"
                             " 1 s of wrk; does not touch README.md")
    parser.add_argument("--rounds", type=int, help="rounds (default 5)")
    parser.add_argument("--requests", type=int,
                        help="timed IIS-mode requests per contender and"
                             " round (default 20000)")
    parser.add_argument("--seconds", type=int,
                        help="wrk duration per measurement (default 5)")
    parser.add_argument("--only", choices=("iis", "nginx", "memory",
                                           "package"),
                        help="run one of the benchmarks")
    parser.add_argument("--write-readme", dest="write_readme",
                        action="store_true", default=None,
                        help="rewrite README.md's results (default unless"
                             " --quick)")
    parser.add_argument("--no-write-readme", dest="write_readme",
                        action="store_false")
    args = parser.parse_args(argv)
    if args.quick:
        defaults = dict(rounds=1, requests=2000, seconds=1, warmup=200,
                        wrk_warmup=0)
    else:
        defaults = dict(rounds=5, requests=20000, seconds=5, warmup=1000,
                        wrk_warmup=1)
    for key in ("rounds", "requests", "seconds"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    args.warmup = defaults["warmup"]
    args.wrk_warmup = defaults["wrk_warmup"]
    if args.write_readme is None:
        args.write_readme = not args.quick
    if args.rounds < 1 or args.requests < 1 or args.seconds < 1:
        parser.error("--rounds, --requests and --seconds must be positive")
    return args


def find_tool(name):
    return shutil.which(name) or next(
        (p for p in ("/usr/sbin/" + name, "/usr/bin/" + name)
         if os.access(p, os.X_OK)), None)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    python = sys.executable
    venv_bin = os.path.dirname(python)
    nginx, wrk = find_tool("nginx"), find_tool("wrk")
    if args.only in (None, "nginx") and not (nginx and wrk):
        print("bench: nginx and wrk are needed: apt-get install nginx-light"
              " wrk", file=sys.stderr)
        return 2
    os.makedirs(WORK, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="run-", dir=WORK)
    started = time.monotonic()
    results = {"iis": {}, "nginx": {}, "memory": {}, "package": {}}
    package_files = 500 if args.quick else 5000
    settings = []
    upload_mib, stream_mib = (20, 100) if args.quick else (200, 1024)
    if args.only in (None, "memory"):
        settings.append("memory: a %d MiB upload and a %d MiB streamed"
                        " response" % (upload_mib, stream_mib))
    if args.only in (None, "package"):
        settings.append("packaging: an app of %d files, %d rounds"
                        % (package_files, args.rounds))
    if args.only in (None, "iis"):
        settings.append("IIS mode %d rounds x %d timed requests (after %d"
                        " warm-up) per contender" % (
                            args.rounds, args.requests, args.warmup))
    if args.only in (None, "nginx"):
        settings.append("nginx %d rounds x wrk -t1 -c1 and -c4, %d s each"
                        " (after %d s warm-up)" % (
                            args.rounds, args.seconds, args.wrk_warmup))
    command = "bench/run" + "".join(" " + a for a in (
        sys.argv[1:] if argv is None else argv))
    results["info"] = {
        "date": datetime.datetime.now().astimezone().strftime(
            "%Y-%m-%d %H:%M %Z"),
        "command": command.strip(),
        "machine": machine_facts(),
        "versions": versions(nginx or "nginx", wrk or "wrk", venv_bin),
        "settings": "; ".join(settings),
        "load_start": load_average(),
    }
    fingerprint = source_fingerprint()
    try:
        if args.only in (None, "memory"):
            results["memory"] = run_memory(python, scratch, upload_mib,
                                           stream_mib)
            print("memory: upload of %d MiB: peak RSS +%.1f MiB; streaming"
                  " %d MiB: RSS %s MiB" % (
                      upload_mib, results["memory"]["upload_growth_kib"]
                      / 1024.0, stream_mib, ", ".join(
                          "%.1f" % (kib / 1024.0) for kib in
                          results["memory"]["stream_rss_kib"])), flush=True)
        if args.only in (None, "package"):
            results["package"] = run_package(python, scratch, package_files,
                                             args.rounds)
            print("package: %s" % ", ".join(
                "%s %.2f s" % item
                for item in results["package"]["seconds"].items()),
                flush=True)
        if args.only in (None, "iis"):
            contenders = iis_contenders(python)
            for index in range(args.rounds):
                for name, argv_ in rotated(contenders, index):
                    figures = run_pipe_contender(
                        name, argv_, args.requests, args.warmup, scratch)
                    results["iis"].setdefault(name, []).append(figures)
                    print("IIS   round %d/%d %-9s %8.0f req/s  p50 %6.1f us"
                          "  p99 %6.1f us" % (
                              index + 1, args.rounds, name, figures["rps"],
                              figures["p50_us"], figures["p99_us"]),
                          flush=True)
            # Keep the report's order fixed.
            results["iis"] = {name: results["iis"][name]
                              for name, _ in contenders}
        if args.only in (None, "nginx"):
            contenders = nginx_contenders(python, venv_bin)
            for index in range(args.rounds):
                for name, make_argv in rotated(contenders, index):
                    figures = run_nginx_contender(
                        name, make_argv, nginx, wrk, (1, 4), args.seconds,
                        args.wrk_warmup, scratch)
                    results["nginx"].setdefault(name, []).append(figures)
                    print("nginx round %d/%d %-9s " % (
                        index + 1, args.rounds, name) + "  ".join(
                        "%s %8.0f req/s%s" % (
                            key, value["rps"], " (%d errors)"
                            % value["errors"] if value["errors"] else "")
                        for key, value in figures.items()
                        if key != "rss_kib"), flush=True)
            results["nginx"] = {name: results["nginx"][name]
                                for name, _ in contenders}
    except BenchError as error:
        print("bench: FAILED: %s" % error, file=sys.stderr)
        return 1
    finally:
        stop_all()
    results["info"]["seconds"] = round(time.monotonic() - started)
    results["info"]["load_end"] = load_average()
    if source_fingerprint() != fingerprint:
        results["info"]["source_changed"] = True
        print("bench: WARNING: iiswsgi's source changed during the run",
              file=sys.stderr)
    summary = summarize(results)
    markdown = report_markdown(results, summary)
    print()
    print(markdown)
    with open(os.path.join(WORK, "last-results.json"), "w") as f:
        json.dump({"results": results, "summary": summary}, f, indent=1)
    if args.write_readme:
        rewrite_readme(markdown)
        print("bench: wrote the results into %s" % README)
    shutil.rmtree(scratch, ignore_errors=True)
    print("bench: done in %d s" % results["info"]["seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
