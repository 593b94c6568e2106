"""End to end with spawn-fcgi, which gives the gateway a LISTENING Unix
socket as its standard input (as Apache mod_fcgid and lighttpd do):

    spawn-fcgi -n -s SOCK -- PYTHON -m iiswsgi        (WSGI_HANDLER=...)
    spawn-fcgi -n -s SOCK -- iiswsgi serve INI        (no address)

``-n`` makes spawn-fcgi exec the gateway in its own process, so the
process started here is the gateway itself.
"""

import hashlib
import json
import os
import signal
import subprocess

import pytest

from tests.integration.peers_support import IISWSGI, PYTHON, Proc, \
    fcgi_params, parse_cgi, require_binary, require_script, socket_path, \
    subprocess_env, unix_connect, unix_socket_ready, wait_until, write_ini
from tests.support.fcgi import Client


@pytest.fixture(scope="module")
def spawn_fcgi():
    return require_binary("spawn-fcgi", "/usr/bin/spawn-fcgi")


@pytest.fixture(scope="module", params=["python-m-iiswsgi", "iiswsgi-serve"])
def spawned(request, spawn_fcgi, tmp_path_factory):
    directory = tmp_path_factory.mktemp("spawn-" + request.param)
    log = directory / "gateway.log"
    if request.param == "python-m-iiswsgi":
        command = [PYTHON, "-m", "iiswsgi"]
        env = subprocess_env(WSGI_HANDLER="sample_apps.router", WSGI_LOG=log)
    else:
        ini = write_ini(directory / "app.ini", "call:peer_apps:make_router",
                        {"log_file": log})
        command = [require_script(IISWSGI), "serve", ini]
        env = subprocess_env()
    with socket_path(directory) as sock:
        proc = Proc("spawn-fcgi", [spawn_fcgi, "-n", "-s", sock, "--"]
                    + command, directory, env=env)
        proc.sock = sock
        proc.log = log
        try:
            wait_until(lambda: unix_socket_ready(sock),
                       "spawn-fcgi's socket " + sock, proc)
            yield proc
        finally:
            proc.stop()


def log_text(proc):
    try:
        with open(proc.log, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def test_two_connections_of_several_requests(spawned):
    pids = set()
    for connection in range(2):
        with unix_connect(spawned.sock) as sock:
            client = Client(sock, timeout=30)
            for n in range(3):
                query = "conn=%d&n=%d" % (connection, n)
                response = client.request(
                    fcgi_params("/environ", query), rid=n + 1)
                assert response.status == 200, (response.stdout,
                                                spawned.describe())
                assert response.app_status == 0
                environ = json.loads(response.body)
                assert environ["PATH_INFO"] == "/environ"
                assert environ["QUERY_STRING"] == query
                # Started by the web server with a listening socket: one
                # of possibly several processes, several threads each.
                assert environ["wsgi.multiprocess"] is True
                assert environ["wsgi.multithread"] is True
                pids.add(environ["pid"])
            payload = os.urandom(200000)
            response = client.request(
                fcgi_params("/echo", method="POST", body=payload), payload,
                rid=7, keep_conn=False)
            answer = json.loads(response.body)
            assert answer["size"] == len(payload)
            assert answer["sha256"] == hashlib.sha256(payload).hexdigest()
            pids.add(answer["pid"])
            # Without FCGI_KEEP_CONN the gateway closes the connection.
            assert client.closed(timeout=10)
    # spawn-fcgi -n execs the gateway: it is the process started here.
    assert pids == {spawned.pid}
    assert spawned.alive(), spawned.describe()
    assert "socket given as standard input" in log_text(spawned)


def test_cgi_fcgi_through_spawned_gateway(spawned):
    cgi_fcgi = require_binary("cgi-fcgi", "/usr/bin/cgi-fcgi")
    env = {"REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": "/echo",
           "QUERY_STRING": "", "SERVER_NAME": "localhost",
           "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
           "CONTENT_LENGTH": "11"}
    done = subprocess.run([cgi_fcgi, "-bind", "-connect", spawned.sock],
                          input=b"hello world", env=env, capture_output=True,
                          timeout=30)
    assert done.returncode == 0, (done.stderr, spawned.describe())
    status, _, body = parse_cgi(done.stdout)
    assert status == 200
    answer = json.loads(body)
    assert answer["size"] == 11
    assert answer["sha256"] == hashlib.sha256(b"hello world").hexdigest()
    assert answer["pid"] == spawned.pid


def test_stops_cleanly_on_sigterm(spawned):
    # Last in this module on purpose: it ends the module's gateway.
    with unix_connect(spawned.sock) as sock:
        client = Client(sock, timeout=30)
        response = client.request(fcgi_params("/before-stop"))
        assert response.status == 200
        # The connection stays open and idle (FCGI_KEEP_CONN) while the
        # gateway is told to stop: it closes it and exits at once.
        spawned.popen.send_signal(signal.SIGTERM)
        assert spawned.popen.wait(5) == 0, spawned.describe()
        assert client.closed(timeout=5)
    assert "exiting after" in log_text(spawned)
    assert "signal SIGTERM" in log_text(spawned)
