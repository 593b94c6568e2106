"""iiswsgi emulate against the real gateway (and a raw FastCGI responder
for what the gateway never does): real processes started as IIS starts
them, real HTTP on loopback."""

import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from xml.sax.saxutils import quoteattr

import pytest

from iiswsgi.emulator import EmulatorServer
from tests.support.apphost import write_apphost_config

pytestmark = pytest.mark.skipif(os.name == "nt",
                                reason="the emulator runs on POSIX")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
APPS = os.path.join(ROOT, "tests", "apps")
GATEWAY = sys.executable + "|-m iiswsgi"
RAW = sys.executable + "|" + os.path.join(APPS, "raw_responder.py")


def _attributes(values):
    return " ".join("%s=%s" % (name, quoteattr(str(value)))
                    for name, value in values.items())


def write_site(folder, processor=GATEWAY, handler=None, fastcgi=None,
               settings=None, extra=""):
    """A site folder whose web.config sends every request to
    ``processor`` (``fullPath|arguments``), with ``handler`` attributes,
    a ``<fastCgi><application>`` with ``fastcgi`` attributes (as
    install_msdeploy would register it), and appSettings for the
    gateway."""
    os.makedirs(folder, exist_ok=True)
    full_path, _, arguments = processor.partition("|")
    handler = dict({"name": "Python FastCGI", "path": "*", "verb": "*",
                    "modules": "FastCgiModule", "scriptProcessor": processor,
                    "resourceType": "Unspecified"}, **(handler or {}))
    settings = dict({"WSGI_HANDLER": "sample_apps.router",
                     "PYTHONPATH": APPS}, **(settings or {}))
    application = ""
    if fastcgi is not None:
        application = "<fastCgi><application %s /></fastCgi>" % _attributes(
            dict({"fullPath": full_path, "arguments": arguments}, **fastcgi))
    text = ('<?xml version="1.0" encoding="utf-8"?>\n<configuration>\n'
            "<system.webServer>%s<handlers><add %s /></handlers>%s"
            "</system.webServer>\n<appSettings>%s</appSettings>\n"
            "</configuration>\n" % (
                application, _attributes(handler), extra, "".join(
                    "<add key=%s value=%s />" % (quoteattr(key),
                                                 quoteattr(value))
                    for key, value in settings.items())))
    with open(os.path.join(folder, "web.config"), "w",
              encoding="utf-8") as stream:
        stream.write(text)
    return folder


@contextmanager
def emulating(site_dir, apphost=None):
    server = EmulatorServer(str(site_dir), port=0, apphost=apphost)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(20)
        assert not thread.is_alive(), "the emulator did not stop"


def fetch(server, path, data=None, headers=None, timeout=30):
    """(status, headers, body) of a request to the emulator."""
    url = "http://127.0.0.1:%d%s" % (server.port, path)
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def fetch_json(server, path, **kw):
    status, _, body = fetch(server, path, **kw)
    assert status == 200, body
    return json.loads(body)


def parallel(server, paths, stagger=0.0):
    """Fetch ``paths`` at once (``stagger`` seconds apart); the results
    in order and the elapsed time."""
    results = [None] * len(paths)

    def get(index, path):
        results[index] = fetch(server, path)

    threads = []
    started = time.monotonic()
    for index, path in enumerate(paths):
        thread = threading.Thread(target=get, args=(index, path))
        thread.start()
        threads.append(thread)
        time.sleep(stagger)
    for thread in threads:
        thread.join(60)
    return results, time.monotonic() - started


def test_server_variables_reach_the_application(tmp_path):
    site = write_site(tmp_path / "site")
    with emulating(site) as server:
        data = fetch_json(server, "/some/p%C3%A4th?x=1&y=%20",
                          headers={"X-Custom": "yes: really"})
    assert data["SCRIPT_NAME"] == ""
    assert data["PATH_INFO"] == "/some/päth".encode().decode("latin-1")
    assert data["QUERY_STRING"] == "x=1&y=%20"
    assert data["REQUEST_URI"] == "/some/p%C3%A4th?x=1&y=%20"
    assert data["APPL_MD_PATH"] == "/LM/W3SVC/1/ROOT"
    assert data["APPL_PHYSICAL_PATH"] == str(site) + os.sep
    assert data["INSTANCE_ID"] == "1"
    assert data["SERVER_SOFTWARE"] == "Microsoft-IIS/10.0"
    assert data["HTTP_X_CUSTOM"] == "yes: really"
    assert data["REQUEST_METHOD"] == "GET"
    assert data["HTTPS"] == "off"
    assert data["wsgi.url_scheme"] == "http"


def test_child_application_from_applicationhost(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_text("the root application's file")
    site = write_site(tmp_path / "app", fastcgi={"maxInstances": "1"})
    config = write_apphost_config(tmp_path / "applicationHost.config", sites=(
        ("Default Web Site", 3, [("/", "DefaultAppPool", str(root)),
                                 ("/MyApp", "DefaultAppPool", str(site))]),),
        fastcgi=[{"fullPath": sys.executable, "arguments": "-m iiswsgi",
                  "maxInstances": "1",
                  "environmentVariables": {"SETTING_FROM": "apphost"}}])
    with emulating(site, config) as server:
        assert server.urls()[0].endswith("/MyApp/")
        data = fetch_json(server, "/myapp/hello")
        status, _, body = fetch(server, "/hello.txt")
        settings = fetch_json(server, "/MyApp/x", headers={})
    assert data["SCRIPT_NAME"] == "/myapp"
    assert data["PATH_INFO"] == "/hello"
    assert data["APPL_MD_PATH"] == "/LM/W3SVC/3/ROOT/MyApp"
    assert data["INSTANCE_META_PATH"] == "/LM/W3SVC/3"
    assert (status, body) == (200, b"the root application's file")
    assert settings["pid"] == data["pid"]    # maxInstances=1


def _parent_and_child(tmp_path, inherit):
    """A root application whose web.config has the FastCGI handler (in a
    <location inheritInChildApplications="false"> unless ``inherit``), and
    a child application /child, elsewhere on disk, whose web.config has
    only appSettings (for the gateway, which reads its own)."""
    root = write_site(tmp_path / "root")
    if not inherit:
        text = (root / "web.config").read_text()
        text = text.replace("<system.webServer>", '<location path="."'
                            ' inheritInChildApplications="false">'
                            "<system.webServer>").replace(
            "</system.webServer>", "</system.webServer></location>")
        (root / "web.config").write_text(text)
    child = tmp_path / "child"
    child.mkdir()
    (child / "web.config").write_text(
        '<configuration><appSettings><add key="WSGI_HANDLER"'
        ' value="sample_apps.router" /><add key="PYTHONPATH" value=%s />'
        "</appSettings></configuration>" % quoteattr(APPS))
    config = write_apphost_config(tmp_path / "applicationHost.config", sites=(
        ("Default Web Site", 1, [("/", "DefaultAppPool", str(root)),
                                 ("/child", "DefaultAppPool", str(child))]),),
        fastcgi=[{"fullPath": sys.executable, "arguments": "-m iiswsgi"}])
    return root, child, config


def test_child_application_inherits_the_parent_web_config(tmp_path):
    root, child, config = _parent_and_child(tmp_path, inherit=True)
    with emulating(child, config) as server:
        data = fetch_json(server, "/child/hello")
        parent = fetch_json(server, "/hello")
    # The parent's handler runs the child's requests, in the child.
    assert data["SCRIPT_NAME"] == "/child"
    assert data["PATH_INFO"] == "/hello"
    assert data["APPL_PHYSICAL_PATH"] == str(child) + os.sep
    assert data["APPL_MD_PATH"] == "/LM/W3SVC/1/ROOT/child"
    assert parent["APPL_PHYSICAL_PATH"] == str(root) + os.sep


def test_inherit_in_child_applications_false_stops_it(tmp_path):
    root, child, config = _parent_and_child(tmp_path, inherit=False)
    with emulating(child, config) as server:
        status, _, body = fetch(server, "/child/hello")
        parent = fetch_json(server, "/hello")
    # No handler for the child: IIS's static file handler, and no file.
    assert status == 404, body
    assert b"No FastCGI handler of web.config takes /child/hello" in body
    assert parent["APPL_PHYSICAL_PATH"] == str(root) + os.sep


def test_environment_variables_of_the_fastcgi_application(tmp_path):
    site = write_site(tmp_path / "site",
                      settings={"WSGI_HANDLER": "sample_apps.settings_app"})
    config = write_apphost_config(
        tmp_path / "applicationHost.config", sites=(),
        fastcgi=[{"fullPath": sys.executable, "arguments": "-m iiswsgi",
                  "environmentVariables": {"SETTING_FROM": "apphost"}}])
    with emulating(site, config) as server:
        data = fetch_json(server, "/")
    assert data["SETTING_FROM"] == "apphost"


def test_handler_without_fastcgi_application_is_a_500(tmp_path):
    site = write_site(tmp_path / "site")
    config = write_apphost_config(tmp_path / "applicationHost.config",
                                  sites=(), fastcgi=[])
    with emulating(site, config) as server:
        status, _, body = fetch(server, "/")
    assert status == 500
    assert b"Python FastCGI scriptProcessor could not be found in" \
        b" &lt;fastCGI&gt; application configuration." in body
    assert b"matches no registered &lt;fastCgi&gt;&lt;application&gt;" in body


def test_instances_serve_in_parallel(tmp_path):
    site = write_site(tmp_path / "site", fastcgi={"maxInstances": "4"})
    with emulating(site) as server:
        fetch_json(server, "/")            # one process is warm
        results, elapsed = parallel(server, ["/slow?0.8"] * 8)
        (pool,) = server.emulator.pools
        started = pool.started
    assert [status for status, _, _ in results] == [200] * 8
    pids = {json.loads(body)["pid"] for _, _, body in results}
    assert len(pids) == 4
    assert started == 4
    # Two rounds of four, not eight in a row nor eight at once.
    assert 1.6 <= elapsed < 6.4, elapsed


def test_full_queue_is_a_503(tmp_path):
    site = write_site(tmp_path / "site",
                      fastcgi={"maxInstances": "1", "queueLength": "1"})
    with emulating(site) as server:
        fetch_json(server, "/")
        results, _ = parallel(server, ["/slow?1.5"] * 3, stagger=0.3)
    statuses = [status for status, _, _ in results]
    assert statuses == [200, 200, 503], statuses
    assert b"queueLength" in results[2][2]


def test_crash_mid_request_then_a_fresh_process(tmp_path):
    site = write_site(tmp_path / "site")
    with emulating(site) as server:
        before = fetch_json(server, "/")["pid"]
        status, _, body = fetch(server, "/crash")
        after = fetch_json(server, "/")["pid"]
        (pool,) = server.emulator.pools
        started = pool.started
    assert status == 500
    assert b"The FastCGI process exited unexpectedly" in body
    assert b"exited with status 3" in body
    assert before != after
    # The crashing request was not sent to a second process.
    assert started == 2


def test_recycled_after_instance_max_requests(tmp_path):
    site = write_site(tmp_path / "site",
                      fastcgi={"instanceMaxRequests": "3"})
    with emulating(site) as server:
        pids = [fetch_json(server, "/")["pid"] for _ in range(7)]
    assert pids[0] == pids[1] == pids[2]
    assert pids[3] == pids[4] == pids[5] != pids[0]
    assert pids[6] not in pids[:6]


def test_gateway_exiting_between_requests_is_replaced(tmp_path,
                                                     monkeypatch):
    # The gateway's own max_requests: it exits after each request; every
    # next request must still be answered.
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "app.ini").write_text(
        "[app:main]\nuse = call:sample_apps:make_router\n\n"
        "[server:main]\nuse = egg:iiswsgi#iis\nmax_requests = 1\n")
    site = write_site(tmp_path / "site", processor="%s|-m iiswsgi.cli serve"
                      ' "%s"' % (sys.executable,
                                 tmp_path / "site" / "app.ini"))
    monkeypatch.setenv("PYTHONPATH", APPS)
    with emulating(site) as server:
        pids = [fetch_json(server, "/")["pid"] for _ in range(5)]
    assert len(set(pids)) == 5


def test_upload(tmp_path):
    site = write_site(tmp_path / "site")
    body = os.urandom(3 * 1024 * 1024 + 17)
    with emulating(site) as server:
        data = fetch_json(server, "/echo", data=body,
                          headers={"Content-Type": "application/octet-stream"})
    assert data["size"] == len(body)
    assert data["sha256"] == hashlib.sha256(body).hexdigest()


def _first_chunk_delay(server, path):
    """Seconds until the first body bytes of ``path`` arrive, and the
    whole body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port,
                                            timeout=30)
    started = time.monotonic()
    connection.request("GET", path)
    response = connection.getresponse()
    first = response.read1(65536)
    delay = time.monotonic() - started
    rest = response.read()
    connection.close()
    return delay, first + rest


@pytest.mark.parametrize("limit, streams", [("0", True), (None, False)])
def test_response_buffer_limit(tmp_path, limit, streams):
    handler = {"responseBufferLimit": limit} if limit is not None else {}
    site = write_site(tmp_path / "site", handler=handler)
    with emulating(site) as server:
        fetch_json(server, "/")
        delay, body = _first_chunk_delay(server, "/trickle?1.5")
    assert body == b"first\nsecond\n"
    if streams:
        assert delay < 1.0, delay
    else:
        assert delay >= 1.4, delay


@pytest.mark.parametrize("mode, status, shows", [
    (None, 500, b"warning: the database is slow"),
    ("ReturnStdErrIn500", 500, b"warning: the database is slow"),
    ("ReturnGeneric500", 500, b"The FastCGI process wrote to STDERR"),
    ("IgnoreAndReturn200", 200, b"body after stderr"),
    ("TerminateProcess", 500, b"was terminated"),
])
def test_stderr_mode(tmp_path, mode, status, shows):
    fastcgi = {"stderrMode": mode} if mode else {}
    site = write_site(tmp_path / "site", processor=RAW, fastcgi=fastcgi)
    with emulating(site) as server:
        got, _, body = fetch(server, "/stderr")
        again, _, ok = fetch(server, "/")
    assert got == status, body
    assert shows in body
    if mode == "ReturnGeneric500":
        assert b"database is slow" not in body
    assert (again, ok) == (201, b"ok")


def test_stderr_after_the_answer_started_streaming(tmp_path):
    site = write_site(tmp_path / "site", processor=RAW,
                      handler={"responseBufferLimit": "0"})
    with emulating(site) as server:
        status, _, body = fetch(server, "/stderr-late")
    assert (status, body) == (200, b"body before stderr")


def test_cgi_headers_as_iis_reads_them(tmp_path):
    site = write_site(tmp_path / "site", processor=RAW)
    opener = urllib.request.build_opener(_NoRedirect)
    with emulating(site) as server:
        status, _, body = fetch(server, "/noheaders")
        try:
            opener.open("http://127.0.0.1:%d/location" % server.port,
                        timeout=30)
            redirect = None
        except urllib.error.HTTPError as error:
            redirect = (error.code, error.headers["Location"])
    assert status == 500
    assert b"malformed headers" in body
    assert redirect == (302, "/elsewhere")


@pytest.mark.parametrize("path, setting, message", [
    ("/hang", "activityTimeout", b"exceeded configured activity timeout"),
    ("/drip", "requestTimeout", b"exceeded configured request timeout"),
])
def test_timeouts(tmp_path, path, setting, message):
    # 10 s is the least either setting takes.
    site = write_site(tmp_path / "site", processor=RAW,
                      fastcgi={setting: "10"})
    with emulating(site) as server:
        started = time.monotonic()
        status, _, body = fetch(server, path)
        elapsed = time.monotonic() - started
        again, _, _ = fetch(server, "/")
        (pool,) = server.emulator.pools
        processes = pool.started
    assert status == 500
    assert message in body
    assert 9.5 <= elapsed < 20, elapsed
    assert again == 201
    assert processes == 2          # the stuck one was killed


def test_static_files_and_request_filtering(tmp_path):
    site = write_site(tmp_path / "site")
    static = site / "static"
    static.mkdir()
    (static / "style.css").write_text("body { color: red }")
    (static / "web.config").write_text(
        '<configuration><system.webServer><handlers>'
        '<remove name="Python FastCGI" /></handlers></system.webServer>'
        '</configuration>')
    with emulating(site) as server:
        css = fetch(server, "/static/style.css")
        missing = fetch(server, "/static/none.css")
        hidden = fetch(server, "/static/web.config")
        double = fetch(server, "/a%2525b")
        plus = fetch(server, "/a+b")
        app = fetch(server, "/static-not/style.css")
    assert css[0] == 200 and css[2] == b"body { color: red }"
    assert css[1]["Content-Type"] == "text/css"
    assert missing[0] == 404
    assert hidden[0] == 404 and b"404.8" in hidden[2]
    assert double[0] == 404 and b"404.11" in double[2]
    assert plus[0] == 404 and b"404.11" in plus[2]
    assert app[0] == 200 and json.loads(app[2])["PATH_INFO"] == \
        "/static-not/style.css"


def test_denied_extensions_and_the_mime_map_as_iis(tmp_path):
    # IIS's rules, not Python's mimetypes: an extension request filtering
    # denies is 404.7 (even for the FastCGI handler), one outside the MIME
    # map (IIS's, plus web.config's mimeMap) is 404.3.
    site = write_site(tmp_path / "site")
    static = site / "static"
    static.mkdir()
    for name in ("notes.md", "script.py", "style.css"):
        (static / name).write_text("x")
    (static / "web.config").write_text(
        '<configuration><system.webServer><handlers>'
        '<remove name="Python FastCGI" /></handlers>'
        '<staticContent><mimeMap fileExtension=".md"'
        ' mimeType="text/markdown" /></staticContent>'
        '<security><requestFiltering><fileExtensions>'
        '<add fileExtension=".css" allowed="false" />'
        '</fileExtensions></requestFiltering></security>'
        '</system.webServer></configuration>')
    with emulating(site) as server:
        markdown = fetch(server, "/static/notes.md")
        script = fetch(server, "/static/script.py")
        css = fetch(server, "/static/style.css")
        source = fetch(server, "/app/model.cs")
        app = fetch(server, "/app/model.py")
    assert markdown[0] == 200 and markdown[1]["Content-Type"] == \
        "text/markdown"
    assert script[0] == 404 and b"404.3" in script[2]
    assert css[0] == 404 and b"404.7" in css[2]
    assert source[0] == 404 and b"404.7" in source[2]
    assert app[0] == 200 and json.loads(app[2])["PATH_INFO"] == \
        "/app/model.py"


def test_double_escaping_allowed_by_web_config(tmp_path):
    site = write_site(tmp_path / "site", extra=(
        '<security><requestFiltering allowDoubleEscaping="true" />'
        "</security>"))
    with emulating(site) as server:
        data = fetch_json(server, "/a%2525b+c")
    assert data["REQUEST_URI"] == "/a%2525b+c"


def _start_cli(site_dir, *args, env=None):
    process = subprocess.Popen(
        [sys.executable, "-m", "iiswsgi.cli", "emulate", str(site_dir),
         "--port", "0"] + list(args),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=env)
    line = process.stdout.readline()
    match = re.search(r"at (http://\S+)", line)
    if not match:
        process.kill()
        raise AssertionError(line + process.stdout.read())
    return process, match.group(1)


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_ctrl_c_stops_it_and_every_process(tmp_path):
    site = write_site(tmp_path / "site", fastcgi={"maxInstances": "2"})
    process, url = _start_cli(site)
    try:
        pids = [json.loads(urllib.request.urlopen(url, timeout=30).read())
                ["pid"]]
        holder = {}

        def in_flight():
            try:
                urllib.request.urlopen(url + "slow?30", timeout=60).read()
            except Exception as error:     # cut off when it stops
                holder["error"] = error
        busy = threading.Thread(target=in_flight)
        busy.start()
        time.sleep(1)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        process.wait(15)
        elapsed = time.monotonic() - started
        output = process.stdout.read()
        busy.join(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert elapsed < 10, elapsed
    started_pids = [int(pid) for pid in re.findall(
        r"started FastCGI process (\d+)", output)]
    assert pids and set(pids) <= set(started_pids), output
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in started_pids):
        assert time.monotonic() < deadline, "FastCGI processes left running"
        time.sleep(0.1)
    assert '"GET /"' in output     # the access log


def test_ctrl_c_ends_even_a_stubborn_process(tmp_path):
    # signalBeforeTerminateSeconds=30, as the examples set it, must not
    # keep Ctrl-C waiting, nor leave a process behind.
    site = write_site(tmp_path / "site", processor=RAW, fastcgi={
        "signalBeforeTerminateSeconds": "30"})
    process, url = _start_cli(site, env=dict(os.environ,
                                             RAW_RESPONDER_STUBBORN="1"))
    try:
        assert urllib.request.urlopen(url, timeout=30).status == 201
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        process.wait(15)
        elapsed = time.monotonic() - started
        output = process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert elapsed < 8, elapsed
    (pid,) = [int(pid) for pid in re.findall(
        r"started FastCGI process (\d+)", output)]
    deadline = time.monotonic() + 5
    while not _gone(pid):
        assert time.monotonic() < deadline, "the FastCGI process was left"
        time.sleep(0.1)


def test_bad_configuration_is_a_clear_error(tmp_path):
    site = write_site(tmp_path / "site", fastcgi={"maxInstances": "lots"})
    result = subprocess.run(
        [sys.executable, "-m", "iiswsgi.cli", "emulate", str(site),
         "--port", "0", "--apphost", str(site / "web.config")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=30)
    assert result.returncode == 2
    assert "maxInstances='lots'" in result.stdout
    assert str(site / "web.config") in result.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "iiswsgi.cli", "emulate",
         str(tmp_path / "nowhere"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=30)
    assert missing.returncode == 2
    assert "is not a folder" in missing.stdout
