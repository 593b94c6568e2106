"""Server options from the ini file and the iiswsgi serve command line."""

import os
import stat
import subprocess
import sys

import pytest

from iiswsgi.settings import parse_options
from tests.support.iis import ROOT, TESTS, Gateway, iis_params, wait_for


def run_serve(tmp_path, ini_text, *args):
    ini = tmp_path / "app.ini"
    ini.write_text(ini_text)
    return subprocess.run(
        [sys.executable, "-m", "iiswsgi.cli", "serve", str(ini)] + list(args),
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(
            [ROOT, os.path.join(TESTS, "apps"), str(tmp_path)])))


APP = "[app:main]\nuse = call:sample_apps:make_router\n"


def test_unknown_option_is_named(tmp_path):
    result = run_serve(tmp_path, APP + "[server:main]\nuse = egg:iiswsgi#iis\n"
                                       "spool_treshold = 1M\n")
    assert result.returncode != 0
    assert "unknown iiswsgi server option 'spool_treshold'" in result.stderr
    assert "spool_threshold" in result.stderr    # the known ones are listed


def test_bad_value_is_named(tmp_path):
    result = run_serve(tmp_path, APP + "[server:main]\nuse = egg:iiswsgi#iis\n"
                                       "max_body = lots\n")
    assert result.returncode != 0
    assert "max_body" in result.stderr and "'lots' is not a size" in result.stderr


def test_address_overrides_only_apply_to_iiswsgi(tmp_path):
    result = run_serve(tmp_path, APP + "[server:main]\nuse = egg:Paste#http\n",
                       "--port", "9")
    assert result.returncode != 0
    assert "does not use egg:iiswsgi#iis" in result.stderr


def test_no_such_ini(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "iiswsgi.cli", "serve", str(tmp_path / "x.ini")],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode != 0
    assert "no such file" in result.stderr


@pytest.mark.parametrize("options, expected", [
    ({"port": "9000"}, {"bindAddress": ("127.0.0.1", 9000)}),
    ({"host": "::1", "port": "80"}, {"bindAddress": ("::1", 80)}),
    ({"socket": "/run/x.sock", "umask": "007"},
     {"bindAddress": "/run/x.sock", "umask": 0o007}),
    ({"spool_threshold": "512K", "max_body": "2MiB"},
     {"spool_threshold": 512 << 10, "max_body": 2 << 20}),
    ({"debug": "true", "trust_original_url": "off", "threads": "4"},
     {"debug": True, "trust_original_url": False, "threads": 4}),
    ({"restart_regex": "", "max_requests": "10"},
     {"restart_regex": "", "max_requests": 10}),
    ({"read_timeout": "2.5", "watch_interval": "3"},
     {"read_timeout": 2.5, "watch_interval": 3.0}),
])
def test_parse_options(options, expected):
    assert parse_options(options) == expected


@pytest.mark.parametrize("options, message", [
    ({"socket": "/x", "port": "1"}, "not both"),
    ({"host": "localhost"}, "needs a port"),
    ({"umask": "9"}, "octal"),
    ({"debug": "perhaps"}, "true or false"),
    ({"threads": "many"}, "whole number"),
    ({"read_timeout": "soon"}, "number of seconds"),
])
def test_parse_options_errors(options, message):
    with pytest.raises(ValueError, match=message):
        parse_options(options)


def test_umask_applies_to_the_socket_file(tmp_path):
    sock = tmp_path / "gw.sock"
    ini = tmp_path / "app.ini"
    ini.write_text(APP + "[server:main]\nuse = egg:iiswsgi#iis\n"
                         "socket = %s\numask = 077\n" % sock)
    process = subprocess.Popen(
        [sys.executable, "-m", "iiswsgi.cli", "serve", str(ini),
         "--log-file", str(tmp_path / "log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(
            [ROOT, os.path.join(TESTS, "apps")])))
    try:
        wait_for(sock.exists, what="the socket")
        assert stat.S_IMODE(os.stat(sock).st_mode) & 0o077 == 0
    finally:
        process.terminate()
        assert process.wait(20) == 0
    assert not sock.exists()        # removed on the way out


def test_debug_shows_the_traceback(tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text(APP + "[server:main]\nuse = egg:iiswsgi#iis\ndebug = true\n")
    gateway = Gateway(["-m", "iiswsgi.cli", "serve", str(ini)],
                      log=tmp_path / "log", cwd=str(tmp_path))
    try:
        response = gateway.client.request(iis_params("/boom"))
        assert response.status == 500
        assert b"RuntimeError: boom on purpose" in response.body
        assert b"Traceback" in response.body
    finally:
        gateway.stop()


def test_read_timeout_ends_a_silent_connection(tmp_path):
    import socket as sockets
    import time
    from tests.support import fcgi
    sock_path = tmp_path / "gw.sock"
    ini = tmp_path / "app.ini"
    ini.write_text(APP + "[server:main]\nuse = egg:iiswsgi#iis\n"
                         "socket = %s\nread_timeout = 1\n" % sock_path)
    log = tmp_path / "log"
    process = subprocess.Popen(
        [sys.executable, "-m", "iiswsgi.cli", "serve", str(ini),
         "--log-file", str(log)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(
            [ROOT, os.path.join(TESTS, "apps")])))
    try:
        wait_for(sock_path.exists, what="the socket")
        silent = sockets.socket(sockets.AF_UNIX)
        silent.connect(str(sock_path))
        # Half of a PARAMS record, then nothing.
        silent.sendall(fcgi.begin(1) + fcgi.record(
            fcgi.PARAMS, 1, fcgi.pairs(iis_params("/")))[:20])
        began = time.monotonic()
        silent.settimeout(10)
        assert silent.recv(100) == b""          # the gateway closed it
        assert time.monotonic() - began < 5
        silent.close()
        other = sockets.socket(sockets.AF_UNIX)
        other.connect(str(sock_path))
        client = fcgi.Client(other)
        assert client.request(iis_params("/after")).status == 200
        other.close()
        assert "the web server sent nothing for 1.0 s" in log.read_text()
    finally:
        process.terminate()
        assert process.wait(20) == 0


def test_out_of_range_read_timeout_is_refused_before_serving(tmp_path):
    """read_timeout = -5 used to start, then die at the first accept with
    "Timeout value out of range", naming no option."""
    sock = tmp_path / "gw.sock"
    marker = tmp_path / "app-loaded"
    (tmp_path / "marking_app.py").write_text(
        "def make(global_conf, marker):\n"
        "    open(marker, 'w').close()\n"
        "    return lambda environ, start_response: []\n")
    result = run_serve(
        tmp_path,
        "[app:main]\nuse = call:marking_app:make\n"
        "marker = %s\n[server:main]\nuse = egg:iiswsgi#iis\n"
        "socket = %s\nread_timeout = -5\n" % (marker, sock),
        "--log-file", str(tmp_path / "log"))
    assert result.returncode != 0
    ini = tmp_path / "app.ini"
    assert ("iiswsgi serve: read_timeout = -5 in [server:main] of %s: must"
            " be from 0 to 31536000 seconds" % ini) in result.stderr
    assert "remove it for the default (60)" in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing started: no socket bound, no application loaded.
    assert not sock.exists()
    assert not marker.exists()


def test_out_of_range_read_timeout_on_standard_input(tmp_path):
    # Without an address the server would serve standard input (here
    # /dev/null, which it would refuse with its own message).
    result = run_serve(tmp_path, APP + "[server:main]\nuse = egg:iiswsgi#iis\n"
                                       "read_timeout = -5\n")
    assert result.returncode != 0
    assert "read_timeout = -5 in [server:main] of" in result.stderr
    assert "standard input" not in result.stderr


def test_bad_flag_is_named_as_a_flag(tmp_path):
    result = run_serve(tmp_path, APP + "[server:main]\nuse = egg:iiswsgi#iis\n",
                       "--port", "http")
    assert result.returncode != 0
    assert ("iiswsgi serve: --port http on the command line: 'http' is not"
            " a whole number") in result.stderr


def test_flag_overrides_the_ini_and_is_checked_with_it(tmp_path):
    result = run_serve(tmp_path, APP + "[server:main]\nuse = egg:iiswsgi#iis\n"
                                       "port = 70000\n", "--port", "9")
    assert result.returncode != 0
    # The ini's value is checked even though the flag replaces it.
    assert "port = 70000 in [server:main] of" in result.stderr


# -- python -m iiswsgi: the environment at start, appSettings at the first
# request, both through the settings table --------------------------------

def _hosted(tmp_path, env=None, **app_settings):
    from tests.integration.test_iis_pipe import write_web_config
    folder = tmp_path / "site"
    folder.mkdir()
    write_web_config(folder, **app_settings)
    gateway = Gateway(["-m", "iiswsgi"], env=env, cwd=str(tmp_path),
                      log=tmp_path / "iiswsgi.log")
    gateway.params = lambda path="/": iis_params(
        path, physical_path=str(folder) + os.sep)
    gateway.folder = folder
    return gateway


def _json(response):
    import json
    assert response.status == 200, response.stdout[:500]
    return json.loads(response.body)


def test_script_name_from_the_environment_mounts_every_request(tmp_path):
    gateway = _hosted(tmp_path, env={"SCRIPT_NAME": "/site/app"},
                      WSGI_HANDLER="sample_apps.settings_app")
    try:
        for rid, (path, expected) in enumerate([
                ("/site/app/page", ("/site/app", "/page")),
                ("/SITE/app", ("/SITE/app", ""))], 1):
            data = _json(gateway.client.request(gateway.params(path),
                                                rid=rid))
            assert (data["SCRIPT_NAME"], data["PATH_INFO"]) == expected
    finally:
        gateway.stop()


def test_bad_app_settings_are_logged_naming_web_config_and_ignored(tmp_path):
    gateway = _hosted(tmp_path, WSGI_HANDLER="sample_apps.settings_app",
                      WSGI_READ_TIMEOUT="-1", WSGI_RESTART_FILE_REGEX="(")
    try:
        data = _json(gateway.client.request(gateway.params("/x")))
        assert data["PATH_INFO"] == "/x"
        # The process still serves: the bad regex did not reach the watcher.
        data = _json(gateway.client.request(gateway.params("/y"), rid=2))
        assert data["PATH_INFO"] == "/y"
        web_config = gateway.folder / "web.config"
        wait_for(lambda: "RESTART_FILE_REGEX" in gateway.log_text(),
                 what="the warning")
        log = gateway.log_text()
        assert ("ignoring WSGI_READ_TIMEOUT='-1' in appSettings of %s: must"
                " be from 0 to 31536000 seconds" % web_config) in log
        assert ("ignoring WSGI_RESTART_FILE_REGEX='(' in appSettings of %s:"
                " '(' is not a regular expression" % web_config) in log
        assert "Traceback" not in log
    finally:
        gateway.stop()


def test_bad_environment_setting_is_logged_at_start(tmp_path):
    gateway = _hosted(tmp_path, env={"WSGI_READ_TIMEOUT": "abc"},
                      WSGI_HANDLER="sample_apps.settings_app")
    try:
        wait_for(lambda: "ignoring" in gateway.log_text(), what="the warning")
        assert ("ignoring WSGI_READ_TIMEOUT='abc' in the environment: 'abc'"
                " is not a number of seconds") in gateway.log_text()
        _json(gateway.client.request(gateway.params("/")))
    finally:
        gateway.stop()


def run_spec(tmp_path, spec, *args):
    return subprocess.run(
        [sys.executable, "-m", "iiswsgi.cli", "serve", spec] + list(args),
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=ROOT))


@pytest.mark.parametrize("spec, words", [
    ("nosuchmodule_x:app", ["there is no module 'nosuchmodule_x'",
                            "PYTHONPATH"]),
    ("pkg_x.nothere:app", ["there is no module 'pkg_x.nothere'"]),
    ("siteapp:missing", ["the module siteapp", "has no attribute 'missing'"]),
    ("siteapp:CONSTANT", ["siteapp.CONSTANT is a int, not a WSGI",
                          "siteapp:CONSTANT()"]),
    ("siteapp:make()", ["siteapp.make() returned a NoneType"]),
])
def test_bad_app_spec_names_what_is_missing(tmp_path, spec, words):
    (tmp_path / "siteapp.py").write_text(
        "CONSTANT = 3\ndef make():\n    return None\n")
    (tmp_path / "pkg_x").mkdir()
    (tmp_path / "pkg_x" / "__init__.py").write_text("")
    result = run_spec(tmp_path, spec, "--port", "0")
    assert result.returncode != 0
    for word in words:
        assert word in result.stderr, result.stderr


def test_an_import_error_inside_the_module_is_not_a_missing_module(tmp_path):
    (tmp_path / "broken.py").write_text("import nosuchdependency_x\n")
    result = run_spec(tmp_path, "broken:app", "--port", "0")
    assert result.returncode != 0
    assert "No module named 'nosuchdependency_x'" in result.stderr
    assert "there is no module 'broken'" not in result.stderr


def test_neither_ini_nor_spec(tmp_path):
    result = run_spec(tmp_path, "app.ini.txt")
    assert result.returncode != 0
    assert "no such file" in result.stderr and "MODULE:APP" in result.stderr
