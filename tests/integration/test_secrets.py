"""Secrets never reach the log file or an error page: the real gateway
(`python -m iiswsgi`, started the IIS way; and `egg:iiswsgi#iis` with
``debug``) with a debugger secret, an Application Insights key and
connection string and other secret-looking appSettings, an application
that leaks them every way it can, then a grep of the log and of every
response."""

import json
import os

import pytest

from tests.support.iis import ROOT, Gateway, iis_params
from tests.support.wfastcgi import Collector, hiding, telemetry_env

IKEY = "5ec7e75a-1a2b-4c3d-9e8f-0123456789ab"
SECRETS = {
    "WSGI_PTVSD_SECRET": "ptvsd-Zq8wR4nX",
    "APPINSIGHTS_INSTRUMENTATIONKEY": IKEY,
    "DB_PASSWORD": "hunter2-Pw9kLm",
    "API_TOKEN": "tok_4f9e2b7c1d",
    "SECRET_KEY": "django-insecure-8u2k!x#q",
    "StorageConnectionString": "DefaultEndpointsProtocol=https;"
                               "AccountName=acct;AccountKey=Acc0untK3y+/==",
    # Secret by their shape, under names that say nothing; with a quote and
    # a backslash, which repr() and JSON escape.
    "MY_CONN": "Server=db;User Id=app;Password=conn-Pw9'x\\y",
    "DATABASE_URL": "postgres://app:url-Pw7%40z@db/x",
}
# What is registered apart from the whole values: a connection string's
# secret part, seen alone.
PARTS = ["Acc0untK3y+/==", "conn-Pw9'x\\y", "url-Pw7%40z", "url-Pw7@z"]

LEAKY_APP = '''
import json, logging, os, sys

def _map():
    return {name: os.environ[name] for name in %r}

def _all():
    return " ".join(os.environ[name] for name in %r)

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/print":
        print("settings:", _all())
        print("key alone:", "Acc0untK3y+/==", file=sys.stderr)
    elif path == "/log":
        logging.getLogger("leaky").error("connecting with %%s", _all())
        logging.getLogger("leaky").error("settings %%r as JSON %%s", _map(),
                                         json.dumps(_map()))
        environ["wsgi.errors"].write("errors stream: " + _all() + "\\n")
    elif path == "/raise":
        raise RuntimeError("login failed with " + _all())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

def factory(global_conf, **local_conf):
    return app
''' % (sorted(SECRETS), sorted(SECRETS))

BROKEN_APP = '''
import os
raise RuntimeError("cannot connect with " + os.environ["DB_PASSWORD"]
                   + " to " + os.environ["DATABASE_URL"])
'''


def leaked(text):
    """The secrets (and secret parts) found in ``text``, as they are or
    escaped as repr() and JSON escape them."""
    found = []
    for value in list(SECRETS.values()) + PARTS:
        for form in (value, repr(value)[1:-1], json.dumps(value)[1:-1],
                     repr("'" + value)[2:-1]):
            if form in text and value not in found:
                found.append(value)
    return found


def write_modules(folder):
    (folder / "leaky_app.py").write_text(LEAKY_APP)
    (folder / "leaky_broken.py").write_text(BROKEN_APP)


def requests(gw, params, paths=("/", "/print", "/log", "/raise")):
    bodies = []
    for rid, path in enumerate(paths, 1):
        response = gw.client.request(params(path), rid=rid)
        assert response.status == (500 if path == "/raise" else 200), \
            response.stdout[:500]
        bodies.append(response.stdout.decode("latin-1"))
    return bodies


def test_app_settings_never_reach_the_log_or_a_page(site):
    write_modules(site.folder)
    gw = site(args=hiding("debugpy", "ptvsd", "azure.monitor.opentelemetry",
                          "applicationinsights"),
              WSGI_HANDLER="leaky_app.app", **SECRETS)
    bodies = requests(gw, site.params)
    log = gw.log_text()
    # The application did leak, every way: the log shows where.
    assert log.count("[redacted]") >= 4 * len(SECRETS), log
    assert "login failed with [redacted]" in log
    assert "Traceback" in log
    assert leaked(log) == [], log
    assert leaked("".join(bodies)) == []


def test_a_handler_that_fails_to_load_does_not_show_secrets(site):
    write_modules(site.folder)
    gw = site(args=hiding("debugpy", "ptvsd"),
              WSGI_HANDLER="leaky_broken.app", **SECRETS)
    for rid in (1, 2):
        response = gw.client.request(site.params("/"), rid=rid)
        assert response.status == 500
        page = response.stdout.decode("latin-1")
        assert "cannot connect with [redacted]" in page
        assert "to postgres://app:[redacted]@db/x" in page
        assert "Traceback" not in page
        assert leaked(page) == []
    log = gw.log_text()
    assert "could not load the WSGI application" in log
    assert leaked(log) == [], log


def test_with_wsgi_debug_the_load_error_page_shows_the_traceback(site):
    write_modules(site.folder)
    gw = site(args=hiding("debugpy", "ptvsd"),
              WSGI_HANDLER="leaky_broken.app", WSGI_DEBUG="true", **SECRETS)
    response = gw.client.request(site.params("/"))
    assert response.status == 500
    page = response.stdout.decode("latin-1")
    assert "Traceback (most recent call last)" in page
    assert "leaky_broken.py" in page
    assert leaked(page) == []


@pytest.mark.parametrize("package", ["opentelemetry", "applicationinsights"])
def test_telemetry_keys_never_reach_the_log(site, collector, package):
    args = (("-m", "iiswsgi") if package == "opentelemetry"
            else hiding("azure.monitor.opentelemetry"))
    env = telemetry_env(collector)
    env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = env[
        "APPLICATIONINSIGHTS_CONNECTION_STRING"].replace(
        "00000000-0000-0000-0000-000000000000", IKEY)
    write_modules(site.folder)
    gw = site(args=args, env=env, WSGI_HANDLER="leaky_app.app",
              APPINSIGHTS_INSTRUMENTATIONKEY=IKEY)
    bodies = requests(gw, site.params, ("/", "/raise"))
    gw.close_pipe()
    assert gw.wait(60) == 0
    log = gw.log_text()
    assert "tracing requests to" in log
    assert IKEY not in log and IKEY not in "".join(bodies), log
    # The telemetry did go out, with the key, to the (loopback) collector.
    assert any(IKEY.encode() in body for _, body in Collector.received)


def test_debug_error_pages_and_the_process_environment(tmp_path):
    """egg:iiswsgi#iis with ``debug = true`` shows tracebacks in 500
    pages; secrets from the process environment (IIS's
    <environmentVariables>) are redacted from them and from the log."""
    folder = tmp_path / "app"
    folder.mkdir()
    write_modules(folder)
    ini = folder / "app.ini"
    ini.write_text("[app:main]\nuse = call:leaky_app:factory\n\n"
                   "[server:main]\nuse = egg:iiswsgi#iis\ndebug = true\n")
    env = dict(SECRETS, PYTHONPATH=os.pathsep.join([ROOT, str(folder)]))
    gw = Gateway(["-m", "iiswsgi.cli", "serve", str(ini)], env=env,
                 cwd=str(tmp_path), log=tmp_path / "iiswsgi.log")
    try:
        bodies = requests(gw, lambda path: iis_params(
            path, physical_path=str(folder) + os.sep))
        assert "<pre>Traceback" in bodies[-1]
        assert "login failed with [redacted]" in bodies[-1]
        assert leaked("".join(bodies)) == []
        log = gw.log_text()
        assert "[redacted]" in log and leaked(log) == [], log
    finally:
        gw.stop()


def test_iiswsgi_enable_does_not_echo_a_secret_it_sets(tmp_path):
    from tests.integration.test_enable_doctor import IIS
    iis = IIS(tmp_path)
    result = iis.run("enable", "--env", "DB_PASSWORD=enable-Pw-55x",
                     "--env", "DATABASE_URL=postgres://u:enable-url-7q@h/d",
                     "--env", "PYTHONPATH=C:\\app")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "    environment: DB_PASSWORD=[redacted]\n" in output
    assert ("    environment: DATABASE_URL=postgres://u:[redacted]@h/d\n"
            in output)
    assert "    environment: PYTHONPATH=C:\\app\n" in output
    assert "enable-Pw-55x" not in output and "enable-url-7q" not in output
    # It was set all the same.
    config = open(iis.config, encoding="utf-8").read()
    assert "enable-Pw-55x" in config


def test_a_failing_enable_does_not_show_a_secret_it_was_given(tmp_path):
    """appcmd fails to set the variable: its command line, in the error,
    holds the value."""
    import stat
    from tests.integration.test_enable_doctor import IIS
    iis = IIS(tmp_path)
    failing = tmp_path / "failing-appcmd"
    failing.write_text('#!/bin/sh\ncase "$*" in *environmentVariables*)'
                       ' echo "ERROR ( message:Failed to commit. )"; exit 13;;'
                       '\nesac\nexec %s "$@"\n' % iis.appcmd)
    failing.chmod(failing.stat().st_mode | stat.S_IXUSR)
    result = iis.run("enable", "--env", "API_TOKEN=enable-Tok-31z",
                     str(failing))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed to commit" in result.stderr
    assert "[redacted]" in result.stderr
    assert "enable-Tok-31z" not in result.stdout + result.stderr


def test_doctor_does_not_show_secrets_in_an_import_traceback(tmp_path):
    from tests.integration.test_enable_doctor import IIS, make_site
    iis = IIS(tmp_path)
    assert iis.run("enable").returncode == 0
    site = make_site(tmp_path, settings={
        "DB_PASSWORD": "doctor-Pw-88q",
        "DATABASE_URL": "mysql://u:doctor-url-6k@h/d"}, app=(
        "import os\n"
        "raise RuntimeError('no database: %r %s' % (\n"
        "    os.environ['DB_PASSWORD'], os.environ['DATABASE_URL']))\n"))
    result = iis.run("doctor", site)
    assert "does not load" in result.stdout, result.stdout
    assert "RuntimeError: no database: '[redacted]'" in result.stdout
    assert "doctor-Pw-88q" not in result.stdout
    assert "doctor-url-6k" not in result.stdout
