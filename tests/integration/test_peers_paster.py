"""End to end with PasteScript's ``paster serve`` and with ``iiswsgi
serve``, the server chosen and configured by the ini file:

* ``paster serve INI`` with ``[server:main] use = egg:iiswsgi#iis`` and
  ``socket = PATH``;
* ``paster serve -s egg:iiswsgi#iis INI`` started the way IIS starts it:
  one end of a socketpair as standard input, stdout and stderr closed;
* ``iiswsgi serve INI`` with ``socket = PATH`` in ``[server:main]``.
"""

import hashlib
import json
import os
import signal

import pytest

from tests.integration.peers_support import IISWSGI, PASTER, Proc, \
    fcgi_params, require_script, socket_path, subprocess_env, unix_connect, \
    unix_socket_ready, wait_until, write_ini
from tests.support.fcgi import Client
from tests.support.iis import Gateway

ROUTER = "call:peer_apps:make_router"


def read(path):
    try:
        with open(str(path), encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def check_socket_server(proc, sock):
    """Requests on two connections, then a clean stop on SIGTERM."""
    wait_until(lambda: unix_socket_ready(sock), "the socket " + sock, proc)
    for connection in range(2):
        with unix_connect(sock) as s:
            client = Client(s, timeout=30)
            response = client.request(
                fcgi_params("/from/%d" % connection, "x=%d" % connection))
            assert response.status == 200, (response.stdout, proc.describe())
            environ = json.loads(response.body)
            assert environ["PATH_INFO"] == "/from/%d" % connection
            assert environ["QUERY_STRING"] == "x=%d" % connection
            assert environ["wsgi.multithread"] is True
            assert environ["pid"] == proc.pid
            payload = os.urandom(150000)
            response = client.request(
                fcgi_params("/echo", method="POST", body=payload), payload,
                rid=2)
            answer = json.loads(response.body)
            assert answer["size"] == len(payload)
            assert answer["sha256"] == hashlib.sha256(payload).hexdigest()
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.popen.wait(10) == 0, proc.describe()
    # The server removes the socket it created.
    assert not os.path.exists(sock)


@pytest.mark.parametrize("name, script", [("paster", PASTER),
                                          ("iiswsgi", IISWSGI)])
def test_serve_with_socket_in_ini(tmp_path, name, script):
    """`paster serve app.ini` and `iiswsgi serve app.ini` with the socket
    given in [server:main]."""
    command = require_script(script)
    log = tmp_path / "gateway.log"
    with socket_path(tmp_path) as sock:
        ini = write_ini(tmp_path / "app.ini", ROUTER,
                        {"socket": sock, "log_file": log, "threads": 4})
        proc = Proc(name, [command, "serve", ini], tmp_path,
                    env=subprocess_env())
        try:
            check_socket_server(proc, sock)
        finally:
            proc.stop()
    text = read(log)
    assert "listening on %s" % sock in text
    assert "exiting after 4 requests: signal SIGTERM" in text


def test_paster_serve_server_option_on_the_iis_pipe(tmp_path):
    paster = require_script(PASTER)
    ini = write_ini(tmp_path / "app.ini", ROUTER)  # no [server:main]
    log = tmp_path / "gateway.log"
    gateway = Gateway([paster, "serve", "-s", "egg:iiswsgi#iis", ini],
                      cwd=str(tmp_path), log=log)
    try:
        response = gateway.request("/hello/wörld", query="a=b")
        assert response.status == 200, (response.stdout, gateway.log_text())
        environ = json.loads(response.body)
        assert environ["PATH_INFO"] == (
            "/hello/wörld".encode("utf-8").decode("latin-1"))
        assert environ["SCRIPT_NAME"] == ""
        assert environ["QUERY_STRING"] == "a=b"
        # One pipe, one request at a time, one of several processes.
        assert environ["wsgi.multithread"] is False
        assert environ["wsgi.multiprocess"] is True
        assert environ["pid"] == gateway.process.pid
        payload = os.urandom(100000)
        response = gateway.request("/echo", method="POST", body=payload,
                                   rid=2)
        answer = json.loads(response.body)
        assert answer["size"] == len(payload)
        assert answer["sha256"] == hashlib.sha256(payload).hexdigest()
        response = gateway.request("/print", rid=3)
        assert json.loads(response.body) == {"printed": True}
        # IIS closing the pipe ends the process cleanly.
        gateway.close_pipe()
        assert gateway.wait(10) == 0, gateway.log_text()
    finally:
        gateway.stop()
    text = read(log)
    assert "serving the FastCGI pipe on standard input" in text
    assert "printed by the application" in text
    assert "exiting after 3 requests: the web server closed the pipe" in text



def test_paster_serve_refuses_a_bad_option_naming_it(tmp_path):
    import subprocess
    paster = require_script(PASTER)
    with socket_path(tmp_path) as sock:
        ini = write_ini(tmp_path / "app.ini", ROUTER,
                        {"socket": sock, "read_timeout": -5})
        result = subprocess.run(
            [paster, "serve", ini], cwd=str(tmp_path), env=subprocess_env(),
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=60)
        assert result.returncode != 0
        assert ("read_timeout = -5 in the server section of %s: must be from"
                " 0 to 31536000 seconds" % ini) in result.stderr, result.stderr
        assert not os.path.exists(sock)
