"""A stand-in for IIS's FastCGI module, for Windows CPython (run under Wine
by test_windows.py, or on Windows itself).

It does what IIS does to start a FastCGI process: it creates
``\\\\.\\pipe\\IISFCGI-<guid>``, connects its client end, starts the
gateway with the server end as the only inherited standard handle and
invalid stdout and stderr, sets ``_FCGI_X_PIPE_`` and (optionally)
``_FCGI_SHUTDOWN_EVENT_``, then speaks FastCGI over the pipe.

``python.exe iis_standin.py WORKDIR SCENARIO...`` runs scenarios and prints
one JSON line each: ``{"scenario": name, "observed": {...}}`` or
``{"scenario": name, "error": traceback}``.  The assertions live in
test_windows.py, on the Linux side.
"""

import ctypes
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from ctypes import wintypes

import _winapi

from tests.support import fcgi
from tests.support.iis import iis_params

PIPE_ACCESS_DUPLEX = 0x00000003
ERROR_BROKEN_PIPE = 109
ERROR_PIPE_BUSY = 231
ERROR_PIPE_NOT_CONNECTED = 233
ERROR_FILE_NOT_FOUND = 2
INVALID_HANDLE_VALUE = 0xFFFFFFFFFFFFFFFF
STILL_ACTIVE = 259

kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)


class SECURITY_ATTRIBUTES(ctypes.Structure):
    _fields_ = [("nLength", wintypes.DWORD),
                ("lpSecurityDescriptor", ctypes.c_void_p),
                ("bInheritHandle", wintypes.BOOL)]


kernel32.CreateEventW.argtypes = [ctypes.POINTER(SECURITY_ATTRIBUTES),
                                  wintypes.BOOL, wintypes.BOOL,
                                  wintypes.LPCWSTR]
kernel32.CreateEventW.restype = wintypes.HANDLE
kernel32.SetEvent.argtypes = [wintypes.HANDLE]
kernel32.SetEvent.restype = wintypes.BOOL


class PipeClient:
    """The client end of the pipe, with the socket calls fcgi.Client uses."""

    def __init__(self, name):
        self.name = name
        self.handle = None
        self.open()

    def open(self, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.handle = _winapi.CreateFile(
                    self.name, _winapi.GENERIC_READ | _winapi.GENERIC_WRITE,
                    0, 0, _winapi.OPEN_EXISTING, 0, 0)
                return
            except OSError as error:
                if time.monotonic() > deadline or error.winerror not in (
                        ERROR_PIPE_BUSY, ERROR_FILE_NOT_FOUND):
                    raise
                if error.winerror == ERROR_PIPE_BUSY:
                    try:
                        _winapi.WaitNamedPipe(self.name, 1000)
                    except OSError:
                        pass
                time.sleep(0.05)

    def settimeout(self, seconds):
        pass    # the scenario's watchdog bounds every wait

    def recv(self, size):
        try:
            data, _ = _winapi.ReadFile(self.handle, size)
        except OSError as error:
            if error.winerror in (ERROR_BROKEN_PIPE, ERROR_PIPE_NOT_CONNECTED):
                return b""
            raise
        return data

    def sendall(self, data):
        view = memoryview(data)
        while view:
            written, _ = _winapi.WriteFile(self.handle, view)
            view = view[written:]

    def close(self):
        if self.handle is not None:
            _winapi.CloseHandle(self.handle)
            self.handle = None


class Gateway:
    """One gateway process started the IIS way."""

    def __init__(self, workdir, args, env=None, shutdown_event=False,
                 stdin_socket=None, cwd=None, connect_first=True):
        self.workdir = workdir
        self.log = os.path.join(workdir, "iiswsgi-%s.log" % uuid.uuid4().hex)
        environ = dict(os.environ)
        environ.pop("WSGI_LOG", None)
        environ["WSGI_LOG"] = self.log
        environ.update(env or {})
        self.event = None
        if stdin_socket is None:
            self.pipe_name = r"\\.\pipe\IISFCGI-%s" % uuid.uuid4()
            server = _winapi.CreateNamedPipe(
                self.pipe_name, PIPE_ACCESS_DUPLEX, 0, 1, 65536, 65536, 0, 0)
            self.pipe = PipeClient(self.pipe_name) if connect_first else None
            environ["_FCGI_X_PIPE_"] = self.pipe_name
            stdin = server
        else:
            server = None
            self.pipe = None
            stdin = stdin_socket.fileno()
        os.set_handle_inheritable(stdin, True)
        if shutdown_event:
            attributes = SECURITY_ATTRIBUTES(
                ctypes.sizeof(SECURITY_ATTRIBUTES), None, True)
            self.event = kernel32.CreateEventW(ctypes.byref(attributes),
                                               True, False, None)
            environ["_FCGI_SHUTDOWN_EVENT_"] = str(self.event)
        info = subprocess.STARTUPINFO()
        info.dwFlags = subprocess.STARTF_USESTDHANDLES
        info.hStdInput = stdin
        info.hStdOutput = INVALID_HANDLE_VALUE
        info.hStdError = INVALID_HANDLE_VALUE
        command = subprocess.list2cmdline([sys.executable] + list(args))
        self.process, thread, self.pid, _ = _winapi.CreateProcess(
            sys.executable, command, None, None, True, 0, environ,
            cwd or workdir, info)
        _winapi.CloseHandle(thread)
        if server is not None:
            _winapi.CloseHandle(server)   # the child holds the server end
        self.client = fcgi.Client(self.pipe) if self.pipe else None

    def request(self, path="/", body=b"", rid=1, keep_conn=True, client=None,
                **kw):
        params = iis_params(path, body=body, **kw)
        return (client or self.client).request(params, body, rid=rid,
                                               keep_conn=keep_conn)

    def exit_code(self, timeout=20):
        """The exit code once the process ends, or None after ``timeout``."""
        result = _winapi.WaitForSingleObject(self.process,
                                             int(timeout * 1000))
        if result != 0:
            return None
        return _winapi.GetExitCodeProcess(self.process)

    def alive(self):
        return _winapi.GetExitCodeProcess(self.process) == STILL_ACTIVE

    def set_shutdown_event(self):
        kernel32.SetEvent(self.event)

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8") as f:
                return f.read()
        except OSError:
            return ""

    def kill(self):
        if self.alive():
            _winapi.TerminateProcess(self.process, 99)
        if self.pipe is not None:
            self.pipe.close()


def summary(response):
    out = {"status": response.status, "stderr": response.stderr.decode(
        "latin-1"), "stdout_ends": response.stdout_ends,
        "protocol_status": response.protocol_status}
    try:
        out["json"] = json.loads(response.body)
    except ValueError:
        out["body"] = response.body[:2000].decode("latin-1")
    return out


HANDLER = {"WSGI_HANDLER": "sample_apps.router"}
MODULE = ["-m", "iiswsgi"]


def with_gateway(workdir, run, *args, **kw):
    """Run ``run(gateway)``; kill the gateway whatever happens, and kill it
    early if the scenario hangs, so every wait ends."""
    gateway = Gateway(workdir, *args, **kw)
    watchdog = threading.Timer(60, gateway.kill)
    watchdog.start()
    try:
        observed = run(gateway)
        observed.setdefault("log", gateway.log_text()[-6000:])
        return observed
    except Exception as error:
        raise RuntimeError("%s\n--- the gateway's log ---\n%s" % (
            error, gateway.log_text()[-6000:])) from error
    finally:
        watchdog.cancel()
        gateway.kill()


def site_dir(workdir, name, settings, files=None):
    folder = os.path.join(workdir, name)
    os.makedirs(folder, exist_ok=True)
    entries = "".join('<add key="%s" value="%s" />' % item
                      for item in settings.items())
    with open(os.path.join(folder, "web.config"), "w") as f:
        f.write("<configuration><appSettings>%s</appSettings>"
                "</configuration>" % entries)
    for filename, text in (files or {}).items():
        with open(os.path.join(folder, filename), "w") as f:
            f.write(text)
    return folder


# -- scenarios -----------------------------------------------------------------

def scenario_environ(workdir):
    def run(gw):
        response = gw.request("/app/hello wörld", app_path="/app",
                              query="q=%20", physical_path=workdir + "\\")
        return {"response": summary(response), "pid": gw.pid}
    return with_gateway(workdir, run, MODULE, HANDLER)


def scenario_upload(workdir):
    body = os.urandom(1 << 20)

    def run(gw):
        response = gw.request("/echo", body=body, method="POST",
                              physical_path=workdir + "\\")
        return {"response": summary(response),
                "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
    return with_gateway(workdir, run, MODULE, HANDLER)


def scenario_big_chunks(workdir):
    def run(gw):
        response = gw.request("/bigchunks", query="20",
                              physical_path=workdir + "\\")
        expected = b"".join(bytes([n]) * 65536 for n in range(20))
        return {"status": response.status, "size": len(response.body),
                "intact": response.body == expected,
                "stdout_ends": response.stdout_ends}
    return with_gateway(workdir, run, MODULE, HANDLER)


def scenario_keep_conn(workdir):
    def run(gw):
        pids = set()
        statuses = set()
        started = time.monotonic()
        for n in range(200):
            response = gw.request("/n/%d" % n, physical_path=workdir + "\\")
            statuses.add(response.status)
            pids.add(json.loads(response.body)["pid"])
        return {"pids": sorted(pids), "statuses": sorted(statuses),
                "gateway_pid": gw.pid, "seconds": time.monotonic() - started}
    return with_gateway(workdir, run, MODULE, HANDLER)


def scenario_exception(workdir):
    def run(gw):
        bad = gw.request("/boom", physical_path=workdir + "\\")
        good = gw.request("/", physical_path=workdir + "\\")
        return {"bad": summary(bad), "good": summary(good),
                "alive": gw.alive()}
    return with_gateway(workdir, run, MODULE, HANDLER)


def scenario_print(workdir):
    def run(gw):
        response = gw.request("/print", physical_path=workdir + "\\")
        return {"response": summary(response), "alive": gw.alive()}
    return with_gateway(workdir, run, MODULE, HANDLER)


def scenario_shutdown_event_in_flight(workdir):
    def run(gw):
        first = gw.request("/", physical_path=workdir + "\\")
        gw.client.send(fcgi.request(1, iis_params(
            "/slow", query="2", physical_path=workdir + "\\")))
        time.sleep(0.5)
        signalled = time.monotonic()
        gw.set_shutdown_event()
        response = gw.client.read_response(1)
        answered = time.monotonic() - signalled
        code = gw.exit_code(10)
        return {"first": first.status, "response": summary(response),
                "answered_after": answered, "exit_code": code,
                "exited_after": time.monotonic() - signalled}
    return with_gateway(workdir, run, MODULE, HANDLER, shutdown_event=True)


def scenario_shutdown_event_idle(workdir):
    def run(gw):
        first = gw.request("/", physical_path=workdir + "\\")
        time.sleep(0.3)
        signalled = time.monotonic()
        gw.set_shutdown_event()
        code = gw.exit_code(10)
        return {"first": first.status, "exit_code": code,
                "exited_after": time.monotonic() - signalled}
    return with_gateway(workdir, run, MODULE, HANDLER, shutdown_event=True)


def scenario_client_closes_pipe(workdir):
    def run(gw):
        first = gw.request("/", physical_path=workdir + "\\")
        gw.pipe.close()
        return {"first": first.status, "exit_code": gw.exit_code(10)}
    return with_gateway(workdir, run, MODULE, HANDLER)


def scenario_no_keep_conn_reconnect(workdir):
    def run(gw):
        first = gw.request("/first", keep_conn=False,
                           physical_path=workdir + "\\")
        # IIS sees the connection end, then connects again.
        after = gw.pipe.recv(1)
        gw.pipe.close()
        gw.pipe.open()
        gw.client = fcgi.Client(gw.pipe)
        second = gw.request("/second", physical_path=workdir + "\\")
        return {"first": summary(first), "after_first": after.decode(),
                "second": summary(second), "gateway_pid": gw.pid,
                "alive": gw.alive()}
    return with_gateway(workdir, run, MODULE, HANDLER)


def scenario_connect_late(workdir):
    def run(gw):
        time.sleep(1.0)     # the gateway reads a pipe nobody connected yet
        gw.pipe = PipeClient(gw.pipe_name)
        gw.client = fcgi.Client(gw.pipe)
        response = gw.request("/late", physical_path=workdir + "\\")
        return {"response": summary(response)}
    return with_gateway(workdir, run, MODULE, HANDLER, connect_first=False)


def scenario_restart_on_change(workdir):
    folder = site_dir(workdir, "restart site ü", {
        "WSGI_HANDLER": "versioned.app"}, {"versioned.py": (
            "def app(environ, start_response):\n"
            "    start_response('200 OK', [])\n"
            "    return [b'version 1']\n")})

    def run(gw):
        first = gw.request("/", physical_path=folder + "\\")
        time.sleep(1.5)
        alive_before = gw.alive()
        with open(os.path.join(folder, "versioned.py"), "a") as f:
            f.write("# changed\n")
        code = gw.exit_code(15)
        return {"first": summary(first), "alive_before": alive_before,
                "exit_code": code}
    return with_gateway(workdir, run, MODULE, {}, cwd=folder)


def scenario_paste_style(workdir):
    ini = os.path.join(workdir, "app.ini")
    with open(ini, "w") as f:
        f.write("[app:main]\nuse = call:sample_apps:make_router\n\n"
                "[server:main]\nuse = egg:iiswsgi#iis\n")

    def run(gw):
        response = gw.request("/app/x", app_path="/app",
                              physical_path=workdir + "\\")
        return {"response": summary(response)}
    return with_gateway(workdir, run, ["-m", "iiswsgi.cli", "serve", ini], {})


def scenario_tcp(workdir):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    def run(gw):
        results = []
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", port), 20) as conn:
                client = fcgi.Client(conn)
                for n in range(3):
                    results.append(summary(gw.request(
                        "/tcp/%d" % n, client=client,
                        physical_path=workdir + "\\")))
        return {"responses": results}
    try:
        return with_gateway(workdir, run, MODULE, HANDLER,
                            stdin_socket=listener)
    finally:
        listener.close()


def scenario_log_location(workdir):
    # The default log is IIS Express's per-user folder, never %TEMP%.
    home = os.path.join(workdir, "home with spaces ünïcødé")
    temp = os.path.join(workdir, "temp")
    os.makedirs(temp, exist_ok=True)
    env = dict(HANDLER, TEMP=temp, IIS_USER_HOME=home, WSGI_LOG="")

    def run(gw):
        response = gw.request("/", physical_path=workdir + "\\")
        path = os.path.join(home, "Logs", "iiswsgi.log")
        text = open(path, encoding="utf-8").read() if os.path.exists(
            path) else ""
        return {"status": response.status, "log_exists": os.path.exists(path),
                "log_has_start": "serving the FastCGI pipe" in text,
                "temp": os.listdir(temp)}
    return with_gateway(workdir, run, MODULE, env)


def _half_request(path, folder):
    """A request cut inside its parameters record: IIS went quiet."""
    whole = fcgi.request(1, iis_params(path, physical_path=folder + "\\"))
    return whole[:60]


def scenario_shutdown_event_half_record(workdir):
    def run(gw):
        first = gw.request("/", physical_path=workdir + "\\")
        gw.client.send(_half_request("/never", workdir))
        time.sleep(0.5)
        signalled = time.monotonic()
        gw.set_shutdown_event()
        code = gw.exit_code(10)
        return {"first": first.status, "exit_code": code,
                "exited_after": time.monotonic() - signalled}
    return with_gateway(workdir, run, MODULE, HANDLER, shutdown_event=True)


def _restart_site(workdir, name, extra=None):
    files = {"versioned.py": "x = 1\n"}
    files.update(extra or {})
    return site_dir(workdir, name, HANDLER, files)


def scenario_restart_during_first_request(workdir):
    folder = _restart_site(workdir, "first request site")

    def run(gw):
        gw.client.send(fcgi.request(1, iis_params(
            "/slow", query="3", physical_path=folder + "\\")))
        # Under Wine the process may take a while to start: change the
        # file once the application has the request.
        deadline = time.monotonic() + 20
        while ("loaded the WSGI application" not in gw.log_text()
               and time.monotonic() < deadline):
            time.sleep(0.05)
        time.sleep(0.3)
        with open(os.path.join(folder, "versioned.py"), "a") as f:
            f.write("# changed while the first request ran\n")
        first = gw.client.read_response(1)
        return {"first": summary(first), "exit_code": gw.exit_code(15)}
    return with_gateway(workdir, run, MODULE, {}, cwd=folder)


def scenario_request_right_after_restart(workdir):
    folder = _restart_site(workdir, "right after site")

    def run(gw):
        first = gw.request("/", physical_path=folder + "\\")
        gw.client.send(fcgi.request(2, iis_params(
            "/slow", query="2", physical_path=folder + "\\")))
        time.sleep(0.5)
        with open(os.path.join(folder, "versioned.py"), "a") as f:
            f.write("# changed\n")
        slow = gw.client.read_response(2)
        try:
            after = summary(gw.request("/after", rid=3,
                                       physical_path=folder + "\\"))
        except (EOFError, OSError) as error:
            after = {"error": repr(error)}
        return {"first": first.status, "slow": summary(slow),
                "after": after, "exit_code": gw.exit_code(15)}
    return with_gateway(workdir, run, MODULE, {}, cwd=folder)


def scenario_read_timeout(workdir):
    env = dict(HANDLER, WSGI_READ_TIMEOUT="2")

    def run(gw):
        first = gw.request("/", physical_path=workdir + "\\")
        started = time.monotonic()
        gw.client.send(_half_request("/never", workdir))
        code = gw.exit_code(15)
        return {"first": first.status, "exit_code": code,
                "exited_after": time.monotonic() - started}
    return with_gateway(workdir, run, MODULE, env)


def scenario_pipe_closes_mid_body(workdir):
    def run(gw):
        first = gw.request("/", physical_path=workdir + "\\")
        params = iis_params("/echo", method="POST",
                            physical_path=workdir + "\\")
        params["CONTENT_LENGTH"] = "100000"
        gw.client.send(fcgi.begin(1) + fcgi.stream(
            fcgi.PARAMS, 1, fcgi.pairs(params))
            + fcgi.record(fcgi.STDIN, 1, b"b" * 1000))
        time.sleep(0.5)
        gw.pipe.close()
        return {"first": first.status, "exit_code": gw.exit_code(10)}
    return with_gateway(workdir, run, MODULE, HANDLER)


def scenario_notifications(workdir):
    folder = _restart_site(workdir, "notified site")
    os.makedirs(os.path.join(folder, "sub", "deeper"))
    os.makedirs(os.path.join(folder, "venv", "Lib"))
    for name, text in (("venv\\pyvenv.cfg", "home = C:\\Python\n"),
                       ("venv\\Lib\\dep.py", "y = 1\n"),
                       ("sub\\deeper\\deep.py", "z = 1\n")):
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)

    def run(gw):
        first = gw.request("/", physical_path=folder + "\\")
        time.sleep(1.0)
        with open(os.path.join(folder, "venv", "Lib", "dep.py"), "a") as f:
            f.write("# pip changed the venv\n")
        time.sleep(2.5)
        alive_after_venv = gw.alive()
        changed = time.monotonic()
        with open(os.path.join(folder, "sub", "deeper", "deep.py"),
                  "a") as f:
            f.write("# changed\n")
        code = gw.exit_code(15)
        return {"first": first.status, "alive_after_venv": alive_after_venv,
                "exit_code": code,
                "exited_after": time.monotonic() - changed}
    return with_gateway(workdir, run, MODULE, {}, cwd=folder)


def scenario_directory_changes(workdir):
    from iiswsgi.iis import winapi
    folder = os.path.join(workdir, "notified folder")
    os.makedirs(folder, exist_ok=True)
    changes = winapi.DirectoryChanges(folder)
    got = []
    outcome = {}

    def reader():
        try:
            while True:         # until cancelled, below
                got.extend(changes.read())
        except OSError as error:
            outcome["cancelled"] = True
            outcome["error"] = str(error)
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    time.sleep(0.5)
    with open(os.path.join(folder, "top.py"), "w") as f:
        f.write("x = 1\n")
    time.sleep(1.0)
    changes.cancel()
    thread.join(5)
    if thread.is_alive():
        outcome["cancelled"] = False
    changes.close()
    return {"paths": got, "cancelled": outcome.get("cancelled"),
            "error": outcome.get("error"),
            "subtree": winapi.subtree_notifications()}


def main():
    workdir = sys.argv[1]
    for name in sys.argv[2:]:
        function = globals()["scenario_" + name]
        started = time.monotonic()
        try:
            result = {"scenario": name, "observed": function(workdir)}
        except Exception:
            result = {"scenario": name, "error": traceback.format_exc()}
        result["seconds"] = round(time.monotonic() - started, 2)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
