"""The gateway started as IIS starts it: a duplex channel on stdin, stdout
and stderr closed, IIS's server variables, FCGI_KEEP_CONN."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.support import fcgi
from tests.support.iis import ROOT, Gateway, iis_params, wait_for
from tests.support.wfastcgi import as_json, write_web_config

HANDLER = "sample_apps.router"


@pytest.fixture
def start(tmp_path):
    started = []

    def start(args=("-m", "iiswsgi"), handler=HANDLER, env=None, **kw):
        environ = {"WSGI_HANDLER": handler} if handler else {}
        environ.update(env or {})
        kw.setdefault("log", tmp_path / "iiswsgi.log")
        gateway = Gateway(list(args), env=environ, cwd=str(tmp_path), **kw)
        started.append(gateway)
        return gateway
    yield start
    for gateway in started:
        gateway.stop()


def site(tmp_path, path="/", **kw):
    kw.setdefault("physical_path", str(tmp_path) + os.sep)
    return iis_params(path, **kw)


def rss_peak_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


# -- requests and the environ ----------------------------------------------

def test_virtual_directory_environ(start, tmp_path):
    gw = start()
    params = site(tmp_path, "/myapp/hello wörld", app_path="/myapp",
                  query="x=%20y")
    data = as_json(gw.client.request(params))
    assert data["SCRIPT_NAME"] == "/myapp"
    assert data["PATH_INFO"] == "/hello wörld".encode().decode("latin-1")
    assert data["QUERY_STRING"] == "x=%20y"
    assert data["wsgi.url_scheme"] == "http"
    assert data["wsgi.multithread"] is False
    assert data["wsgi.multiprocess"] is True
    assert data["wsgi.run_once"] is False
    assert data["wsgi.input_terminated"] is True
    assert data["INSTANCE_ID"] == "1"
    assert data["SERVER_SOFTWARE"] == "Microsoft-IIS/10.0"


def test_https_scheme(start, tmp_path):
    gw = start()
    data = as_json(gw.client.request(site(tmp_path, "/", https=True)))
    assert data["wsgi.url_scheme"] == "https"


def test_many_keep_conn_requests_one_process(start, tmp_path):
    gw = start()
    pids = set()
    for n in range(200):
        data = as_json(gw.client.request(site(tmp_path, "/n/%d" % n),
                                         rid=n % 5 + 1))
        assert data["PATH_INFO"] == "/n/%d" % n
        pids.add(data["pid"])
    assert pids == {gw.process.pid}
    assert gw.process.poll() is None


def test_keep_conn_clear_finishes_then_exits_zero(start, tmp_path):
    gw = start()
    response = gw.client.request(site(tmp_path, "/last"), keep_conn=False)
    assert response.status == 200
    assert gw.client.closed()
    assert gw.wait() == 0


def test_end_of_file_exits_zero(start, tmp_path):
    gw = start()
    assert gw.client.request(site(tmp_path, "/")).status == 200
    gw.close_pipe()
    assert gw.wait() == 0
    assert "the web server closed the pipe" in gw.log_text()


def test_response_records(start, tmp_path):
    gw = start()
    response = gw.request("/big", physical_path=str(tmp_path) + os.sep,
                          query="300000")
    assert response.status == 200
    assert len(response.body) == 300000
    assert response.body[:256] == bytes(range(256))
    sizes = [len(c) for t, _, c in response.records if t == fcgi.STDOUT]
    assert max(sizes) <= 65535
    assert sizes[-1] == 0 and sizes.count(0) == 1
    assert not any(t == fcgi.STDERR for t, _, _ in response.records)
    assert response.protocol_status == 0


def test_streaming_is_sent_as_produced(start, tmp_path):
    gw = start()
    gw.client.send(fcgi.request(1, site(tmp_path, "/stream", query="5")))
    arrivals = []
    while True:
        rtype, rid, content = gw.client.read_record()
        if rtype == fcgi.STDOUT and b"chunk" in content:
            arrivals.append((time.monotonic(), content))
        if rtype == fcgi.END_REQUEST:
            break
    assert [c.split(b"\r\n\r\n")[-1] for _, c in arrivals] == [
        b"chunk %d\n" % n for n in range(5)]
    # The app sleeps 50 ms between chunks: each came on its own.
    assert arrivals[-1][0] - arrivals[0][0] >= 0.15


def test_write_callable_and_file_wrapper(start, tmp_path):
    gw = start()
    response = gw.client.request(site(tmp_path, "/write"))
    assert response.body == b"written and returned"
    response = gw.client.request(site(tmp_path, "/file"))
    assert response.body == b"f" * 100000


def test_upload_streams_and_spools(start, tmp_path):
    gw = start()
    body = os.urandom(3 << 20)
    import hashlib
    data = as_json(gw.client.request(
        site(tmp_path, "/echo", method="POST", body=body), body))
    assert data["size"] == len(body)
    assert data["sha256"] == hashlib.sha256(body).hexdigest()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_200_mib_upload_keeps_memory_bounded(start, tmp_path):
    gw = start()
    assert gw.client.request(site(tmp_path, "/")).status == 200
    before = rss_peak_kib(gw.process.pid)
    size = 200 << 20
    params = site(tmp_path, "/echo", method="POST", body=b"")
    params["CONTENT_LENGTH"] = str(size)
    gw.client.send(fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1,
                                               fcgi.pairs(params)))

    def send_body():
        block = b"u" * 65535
        sent = 0
        while sent < size:
            part = block[:min(65535, size - sent)]
            gw.client.send(fcgi.record(fcgi.STDIN, 1, part))
            sent += len(part)
        gw.client.send(fcgi.record(fcgi.STDIN, 1))
    sender = threading.Thread(target=send_body)
    sender.start()
    data = as_json(gw.client.read_response(1))
    sender.join()
    assert data["size"] == size
    growth_mib = (rss_peak_kib(gw.process.pid) - before) / 1024
    assert growth_mib < 64, "peak RSS grew %.1f MiB" % growth_mib


# -- errors ------------------------------------------------------------------

def test_app_exception_then_good_request(start, tmp_path):
    gw = start()
    response = gw.client.request(site(tmp_path, "/boom"))
    assert response.status == 500
    assert b"boom on purpose" not in response.body     # not without debug
    assert response.stderr == b""
    assert as_json(gw.client.request(site(tmp_path, "/")))["pid"] == \
        gw.process.pid
    log = gw.log_text()
    assert "RuntimeError: boom on purpose" in log
    assert "Traceback" in log


def test_print_with_no_stdout(start, tmp_path):
    gw = start()
    response = gw.client.request(site(tmp_path, "/print"))
    assert as_json(response) == {"printed": True}
    assert response.stderr == b""
    assert not any(t == fcgi.STDERR for t, _, _ in response.records)
    log = gw.log_text()
    assert "printed by the application" in log
    assert "written to stderr by the application" in log
    assert "written to wsgi.errors" in log


def test_header_injection_refused(start, tmp_path):
    gw = start()
    response = gw.client.request(site(tmp_path, "/badheader"))
    assert response.status == 500
    assert response.header("Set-Cookie") is None
    assert "bad value for response header X-Bad" in gw.log_text()
    assert gw.client.request(site(tmp_path, "/")).status == 200


def test_app_that_cannot_be_loaded(start, tmp_path):
    gw = start(handler="no_such_module.app")
    for _ in range(3):
        response = gw.client.request(site(tmp_path, "/"))
        assert response.status == 500
        assert b"no_such_module" in response.body
    assert gw.process.poll() is None
    assert gw.log_text().count("could not load the WSGI application") == 1


def test_abort_during_the_body(start, tmp_path):
    gw = start()
    params = site(tmp_path, "/echo", method="POST", body=b"x" * 100)
    gw.client.send(fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1, fcgi.pairs(params))
                   + fcgi.record(fcgi.STDIN, 1, b"x" * 40)
                   + fcgi.record(fcgi.ABORT_REQUEST, 1))
    response = gw.client.read_response(1)
    assert response.protocol_status == 0
    assert response.body == b""        # an aborted request gets no answer
    assert as_json(gw.client.request(site(tmp_path, "/after"), rid=2))[
        "PATH_INFO"] == "/after"


def test_management_records_on_the_live_process(start, tmp_path):
    gw = start()
    gw.client.send(fcgi.record(fcgi.GET_VALUES, 0, fcgi.pairs(
        {"FCGI_MAX_CONNS": "", "FCGI_MAX_REQS": "", "FCGI_MPXS_CONNS": ""})))
    rtype, rid, content = gw.client.read_record()
    assert (rtype, rid) == (fcgi.GET_VALUES_RESULT, 0)
    assert fcgi.decode_pairs(content) == {b"FCGI_MAX_CONNS": b"1",
                                          b"FCGI_MAX_REQS": b"1",
                                          b"FCGI_MPXS_CONNS": b"0"}
    gw.client.send(fcgi.record(77, 0))
    assert gw.client.read_record() == (fcgi.UNKNOWN_TYPE, 0,
                                       bytes((77,)) + bytes(7))
    gw.client.send(fcgi.request(3, site(tmp_path, "/"), role=fcgi.AUTHORIZER))
    rtype, rid, content = gw.client.read_record()
    assert (rtype, rid, content[4]) == (fcgi.END_REQUEST, 3, 3)
    assert gw.client.request(site(tmp_path, "/"), rid=4).status == 200


def test_bad_version_closes_at_once(start, tmp_path):
    gw = start()
    # A header announcing 65535 bytes of content that never come.
    gw.client.send(fcgi.HEADER.pack(9, 1, 1, 65535, 0, 0))
    assert gw.client.closed(timeout=10)
    assert gw.wait() == 0
    assert "record version 9" in gw.log_text()


def test_over_max_body_answered_413_without_running_the_app(start, tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = call:sample_apps:make_router\n\n"
                   "[server:main]\nuse = egg:iiswsgi#iis\nmax_body = 1K\n")
    gw = start(args=("-m", "iiswsgi.cli", "serve", str(ini)), handler=None)
    body = b"z" * 5000
    response = gw.client.request(site(tmp_path, "/echo", method="POST",
                                      body=body), body)
    assert response.status == 413
    # A body with no length is cut off when it passes the limit.
    params = site(tmp_path, "/echo", method="POST", body=body)
    del params["CONTENT_LENGTH"]
    response = gw.client.request(params, body, rid=2)
    assert response.status == 413
    assert gw.client.request(site(tmp_path, "/"), rid=3).status == 200


# -- lifecycle ---------------------------------------------------------------

def test_sigterm_finishes_the_request_in_flight(start, tmp_path):
    gw = start()
    assert gw.client.request(site(tmp_path, "/")).status == 200
    gw.client.send(fcgi.request(1, site(tmp_path, "/slow", query="1")))
    time.sleep(0.3)
    gw.process.send_signal(signal.SIGTERM)
    assert as_json(gw.client.read_response(1))["slow"] is True
    assert gw.wait() == 0
    assert "signal SIGTERM" in gw.log_text()


def test_sigterm_when_idle_exits_at_once(start, tmp_path):
    gw = start()
    assert gw.client.request(site(tmp_path, "/")).status == 200
    began = time.monotonic()
    gw.process.send_signal(signal.SIGINT)
    assert gw.wait(10) == 0
    assert time.monotonic() - began < 5


def test_max_requests(start, tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = call:sample_apps:make_router\n\n"
                   "[server:main]\nuse = egg:iiswsgi#iis\nmax_requests = 3\n")
    gw = start(args=("-m", "iiswsgi.cli", "serve", str(ini)), handler=None)
    for n in range(3):
        assert gw.client.request(site(tmp_path, "/"), rid=n + 1).status == 200
    assert gw.wait() == 0
    assert "served 3 requests" in gw.log_text()


def test_restart_on_change_between_requests(start, tmp_path):
    app_dir = tmp_path / "site"
    app_dir.mkdir()
    write_web_config(app_dir, WSGI_HANDLER="sample_apps.router")
    module = app_dir / "module.py"
    module.write_text("x = 1\n")
    (app_dir / "notes.txt").write_text("one")
    gw = start(handler=None)
    params = iis_params("/", physical_path=str(app_dir) + os.sep)
    assert gw.client.request(params).status == 200
    time.sleep(1.5)
    (app_dir / "notes.txt").write_text("two")       # not matched: no restart
    time.sleep(2.5)
    assert gw.process.poll() is None
    # A change during a request: the request finishes, then the process exits.
    gw.client.send(fcgi.request(2, iis_params(
        "/slow", query="2.5", physical_path=str(app_dir) + os.sep)))
    time.sleep(0.3)
    module.write_text("x = 2\n")
    assert as_json(gw.client.read_response(2))["slow"] is True
    assert gw.wait(10) == 0
    assert "module.py changed" in gw.log_text()


def test_restart_on_change_during_the_first_request(start, tmp_path):
    """The watcher's baseline is taken before the first request reaches
    the application, not after it: a file changed while it runs counts."""
    app_dir = tmp_path / "site"
    app_dir.mkdir()
    write_web_config(app_dir, WSGI_HANDLER="sample_apps.router")
    module = app_dir / "module.py"
    module.write_text("x = 1\n")
    gw = start(handler=None)
    gw.client.send(fcgi.request(1, iis_params(
        "/slow", query="1.5", physical_path=str(app_dir) + os.sep)))
    time.sleep(0.5)
    module.write_text("x = 2, changed while the first request runs\n")
    assert as_json(gw.client.read_response(1))["slow"] is True
    assert gw.wait(10) == 0
    assert "module.py changed" in gw.log_text()


def test_a_request_sent_right_after_the_restart_answer_is_served(start,
                                                                 tmp_path):
    """The web server sends the next request as soon as it has the answer
    (IIS reuses the pipe): a restart decided during the answer must not
    exit with that request unread."""
    app_dir = tmp_path / "site"
    app_dir.mkdir()
    write_web_config(app_dir, WSGI_HANDLER="sample_apps.router")
    module = app_dir / "module.py"
    module.write_text("x = 1\n")
    gw = start(handler=None)
    params = iis_params("/", physical_path=str(app_dir) + os.sep)
    assert gw.client.request(params).status == 200
    gw.client.send(fcgi.request(2, iis_params(
        "/slow", query="1.5", physical_path=str(app_dir) + os.sep)))
    time.sleep(0.3)
    module.write_text("x = 2\n")
    assert as_json(gw.client.read_response(2))["slow"] is True
    # At once, as IIS does: the next request on the same pipe.
    response = gw.client.request(params, rid=3)
    assert response.status == 200
    assert gw.wait(10) == 0
    assert "module.py changed" in gw.log_text()


def test_restart_when_idle(start, tmp_path):
    app_dir = tmp_path / "site"
    app_dir.mkdir()
    write_web_config(app_dir, "Web.config", WSGI_HANDLER="sample_apps.router")
    gw = start(handler=None)
    params = iis_params("/", physical_path=str(app_dir) + os.sep)
    assert gw.client.request(params).status == 200
    time.sleep(1.5)
    write_web_config(app_dir, "Web.config", WSGI_HANDLER="sample_apps.other")
    assert gw.wait(10) == 0
    assert "Web.config changed" in gw.log_text()


# -- wfastcgi-style settings and start-up --------------------------------------

def test_handler_and_pythonpath_from_web_config(start, tmp_path):
    app_dir = tmp_path / "sïte with spaces"
    lib = tmp_path / "lib dir"
    app_dir.mkdir()
    lib.mkdir()
    (lib / "libapp.py").write_text(
        "import os\n"
        "def make():\n"
        "    def app(environ, start_response):\n"
        "        start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "        return [os.environ['GREETING'].encode()]\n"
        "    return app\n")
    write_web_config(app_dir, WSGI_HANDLER="libapp.make()", LIBS=str(lib),
                     PYTHONPATH="C:\\nothing;%LIBS%",
                     GREETING="hello from appSettings",
                     WSGI_RESTART_FILE_REGEX="")
    gw = start(handler=None)
    response = gw.client.request(
        iis_params("/", physical_path=str(app_dir) + os.sep))
    assert response.status == 200, response.body
    assert response.body == b"hello from appSettings"
    assert "watching" not in gw.log_text()


def test_paste_style_over_the_pipe(start, tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = egg:iiswsgi#test_app\n\n"
                   "[server:main]\nuse = egg:iiswsgi#iis\n")
    gw = start(args=("-m", "iiswsgi.cli", "serve", str(ini)), handler=None)
    response = gw.client.request(site(tmp_path, "/app/x", app_path="/app"))
    assert response.status == 200
    assert b"iiswsgi test application" in response.body
    assert b"/app" in response.body


def test_default_log_location(start, tmp_path):
    home = tmp_path / "iis user"
    gw = start(log=None, env={"IIS_USER_HOME": str(home),
                              "IISEXPRESS_SITENAME": "Site One",
                              "TEMP": str(tmp_path / "temp"), "WSGI_LOG": ""})
    assert gw.client.request(site(tmp_path, "/")).status == 200
    log = home / "Logs" / "Site One" / "iiswsgi.log"
    wait_for(lambda: log.exists() and "serving the FastCGI pipe"
             in log.read_text(), what="the log file")
    assert oct(log.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("kind", ["file", "null"])
def test_stdin_that_is_no_pipe_exits_with_one_clear_line(tmp_path, kind):
    if kind == "file":
        path = tmp_path / "input"
        path.write_text("")
        stdin = open(path)
    else:
        stdin = open(os.devnull)
    with stdin:
        result = subprocess.run(
            [sys.executable, "-m", "iiswsgi"], stdin=stdin,
            capture_output=True, text=True, timeout=30, cwd=str(tmp_path),
            env=dict(os.environ, PYTHONPATH=ROOT,
                     WSGI_LOG=str(tmp_path / "log")))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "meant to be started by a FastCGI web server" in lines[0]
    assert ("a file" if kind == "file" else "a device") in lines[0]
    assert "iiswsgi serve" in lines[0]


def test_a_fresh_process_serves_after_an_exit(start, tmp_path):
    from tests.support.iis import Site
    iis = Site(start)
    first = as_json(iis.request(site(tmp_path, "/"), keep_conn=False))["pid"]
    wait_for(lambda: iis.gateway.process.poll() is not None,
             what="the gateway to exit")
    second = as_json(iis.request(site(tmp_path, "/")))["pid"]
    assert first != second and iis.started == 2


def test_code_change_is_served_by_the_next_process(start, tmp_path):
    from tests.support.iis import Site
    app_dir = tmp_path / "site"
    app_dir.mkdir()
    write_web_config(app_dir, WSGI_HANDLER="versioned.app")
    module = app_dir / "versioned.py"
    module.write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [b'version 1']\n")
    iis = Site(lambda: start(handler=None))
    params = iis_params("/", physical_path=str(app_dir) + os.sep)
    assert iis.request(params).body == b"version 1"
    time.sleep(1.5)
    module.write_text(module.read_text().replace("version 1", "version 2"))
    wait_for(lambda: iis.gateway.process.poll() is not None,
             what="the gateway to exit after the change")
    assert iis.gateway.process.returncode == 0
    assert iis.request(params).body == b"version 2"
    assert iis.started == 2


def test_answer_ends_before_an_unread_body_is_sent(start, tmp_path):
    # A web server may hold the rest of a body back until the response
    # ends (nginx does): END_REQUEST must not wait for it.
    gw = start()
    params = site(tmp_path, "/ignores-body", method="POST", body=b"")
    params["CONTENT_LENGTH"] = "300000"
    gw.client.send(fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1, fcgi.pairs(params))
                   + fcgi.record(fcgi.STDIN, 1, b"b" * 60000))
    response = gw.client.read_response(1)
    assert response.status == 200 and response.protocol_status == 0
    # The rest comes late; it is dropped and the next request is served.
    gw.client.send(fcgi.record(fcgi.STDIN, 1, b"b" * 60000)
                   + fcgi.record(fcgi.STDIN, 1))
    assert as_json(gw.client.request(site(tmp_path, "/next")))[
        "PATH_INFO"] == "/next"
