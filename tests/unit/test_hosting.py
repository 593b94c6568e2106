"""wfastcgi-style settings: web.config appSettings and WSGI_HANDLER, and
HostedApplication loading a site with them."""

import json
import logging
import os
import subprocess
import sys

import pytest

from iiswsgi import doctor, logs
from iiswsgi.hosting.application import HostedApplication
from iiswsgi.hosting.errorpage import load_error_application
from iiswsgi.hosting.handler import HandlerError, resolve_handler
from iiswsgi.iis.webconfig import (ConfigError, find_web_config,
                                   read_app_settings)
from tests.support.wfastcgi import write_web_config


def config(tmp_path, body, name="web.config"):
    path = tmp_path / name
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n'
                    "<configuration>\n%s\n</configuration>\n" % body)
    return str(path)


def test_add_in_order(tmp_path):
    path = config(tmp_path, """
      <appSettings>
        <add key="WSGI_HANDLER" value="app.application" />
        <add key="EMPTY" />
      </appSettings>""")
    assert read_app_settings(path) == {"WSGI_HANDLER": "app.application",
                                       "EMPTY": ""}


def test_remove_and_clear(tmp_path):
    path = config(tmp_path, """
      <appSettings>
        <add key="GONE" value="1" />
        <add key="KEPT" value="1" />
        <clear />
        <add key="A" value="1" />
        <add key="B" value="2" />
        <remove key="a" />
      </appSettings>""")
    assert read_app_settings(path) == {"B": "2"}


def test_keys_match_in_any_case_last_wins(tmp_path):
    path = config(tmp_path, """
      <appSettings>
        <add key="pythonpath" value="old" />
        <add key="PYTHONPATH" value="new" />
      </appSettings>""")
    assert read_app_settings(path) == {"PYTHONPATH": "new"}


def test_location_entries_are_ignored(tmp_path):
    path = config(tmp_path, """
      <appSettings><add key="HERE" value="yes" /></appSettings>
      <location path="static">
        <appSettings><add key="HERE" value="no" />
          <add key="ONLY_THERE" value="x" /></appSettings>
      </location>""")
    assert read_app_settings(path) == {"HERE": "yes"}


def test_several_appsettings_sections_merge(tmp_path):
    path = config(tmp_path, """
      <appSettings><add key="A" value="1" /></appSettings>
      <system.webServer />
      <appSettings><add key="B" value="2" /></appSettings>""")
    assert read_app_settings(path) == {"A": "1", "B": "2"}


def test_malformed_names_file_line_and_problem(tmp_path):
    path = config(tmp_path, """
      <appSettings>
        <add key="A" value="1">
      </appSettings>""")
    with pytest.raises(ConfigError) as caught:
        read_app_settings(path)
    message = str(caught.value)
    assert path in message
    assert "line 6" in message      # where </appSettings> mismatches
    assert "mismatched tag" in message


def test_dtd_refused(tmp_path):
    path = tmp_path / "web.config"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE c [<!ENTITY x "y">]>\n'
                    '<configuration><appSettings><add key="A" value="&x;" />'
                    "</appSettings></configuration>")
    with pytest.raises(ConfigError, match="DOCTYPE"):
        read_app_settings(str(path))


def test_wrong_root(tmp_path):
    path = tmp_path / "web.config"
    path.write_text("<settings />")
    with pytest.raises(ConfigError, match="not <configuration>"):
        read_app_settings(str(path))


def test_entry_without_key(tmp_path):
    path = config(tmp_path, '<appSettings><add value="1" /></appSettings>')
    with pytest.raises(ConfigError, match="no key"):
        read_app_settings(path)


def test_find_web_config_any_case(tmp_path):
    config(tmp_path, "", name="Web.Config")
    assert find_web_config(str(tmp_path)).endswith("Web.Config")
    assert find_web_config(str(tmp_path / "missing")) is None


@pytest.fixture
def modules(tmp_path, monkeypatch):
    package = tmp_path / "handlerpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(
        "def application(environ, start_response):\n    return []\n"
        "class Factory:\n"
        "    def make(self):\n        return application\n"
        "def factory():\n    return Factory()\n"
        "nothing = None\nnumber = 3\n")
    (package / "broken.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in list(sys.modules):
        if name.startswith("handlerpkg"):
            del sys.modules[name]


def test_dotted_name(modules):
    from handlerpkg import app
    assert resolve_handler("handlerpkg.app.application") is app.application


def test_calls_along_the_way(modules):
    from handlerpkg import app
    assert resolve_handler("handlerpkg.app.factory().make()") is \
        app.application


def test_import_error_inside_the_module_is_reported_as_itself(modules):
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        resolve_handler("handlerpkg.broken.application")


@pytest.mark.parametrize("name, message", [
    ("", "WSGI_HANDLER is not set"),
    (None, "WSGI_HANDLER is not set"),
    ("handlerpkg.app.missing", "has no attribute 'missing'"),
    ("no_such_top_level_xyz.app", "no module 'no_such_top_level_xyz'"),
    ("handlerpkg.app.nothing", "is None"),
    ("handlerpkg.app.number", "is a int, not a WSGI application"),
    ("handlerpkg.app.application;rm", "not a dotted name"),
    ("handlerpkg..app", "not a dotted name"),
])
def test_handler_errors(modules, name, message):
    with pytest.raises(HandlerError, match=message):
        resolve_handler(name)


# -- HostedApplication ---------------------------------------------------------

@pytest.fixture
def hosted_site(tmp_path, monkeypatch, modules):
    """A site folder for HostedApplication.load, which changes the
    environment, sys.path and the working directory: all put back after."""
    folder = tmp_path / "site"
    folder.mkdir()
    saved = dict(os.environ)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield folder
    os.environ.clear()
    os.environ.update(saved)


def started(response):
    def start_response(status, headers, exc_info=None):
        response.append((status, headers))
    return start_response


def test_load_applies_the_app_settings(hosted_site):
    from handlerpkg import app
    extra = hosted_site / "extra"
    write_web_config(hosted_site, WSGI_HANDLER="handlerpkg.app.application",
                     HOSTING_TEST_SETTING="from web.config",
                     PYTHONPATH="%%HOSTING_TEST_ROOT%%;%s" % extra)
    os.environ["HOSTING_TEST_ROOT"] = str(hosted_site / "root")
    loaded = HostedApplication().load(
        {"APPL_PHYSICAL_PATH": str(hosted_site) + os.sep})
    assert loaded is app.application
    assert os.environ["HOSTING_TEST_SETTING"] == "from web.config"
    assert os.getcwd() == str(hosted_site)
    assert sys.path[0] == str(hosted_site)
    assert sys.path[-2:] == [str(hosted_site / "root"), str(extra)]


def test_load_without_debugger_or_telemetry(hosted_site, caplog):
    # An address that is not host:port makes start_debugger only warn, so
    # whether it ran shows in the log, with nothing started.
    from handlerpkg import app
    write_web_config(hosted_site, WSGI_HANDLER="handlerpkg.app.application",
                     WSGI_PTVSD_SECRET="hosting-unit-secret",
                     WSGI_PTVSD_ADDRESS="no-port-here",
                     APPINSIGHTS_INSTRUMENTATIONKEY="hosting-unit-key")
    environ = {"APPL_PHYSICAL_PATH": str(hosted_site)}
    caplog.set_level(logging.INFO, logger="iiswsgi")
    loaded = HostedApplication().load(environ, debugger=False,
                                      telemetry=False)
    assert loaded is app.application       # no telemetry middleware
    assert "not starting the debugger" not in caplog.text
    assert "loaded the WSGI application handlerpkg.app.application" in (
        caplog.text)
    HostedApplication().load(environ, telemetry=False)
    assert ("WSGI_PTVSD_ADDRESS 'no-port-here' is not host:port; not"
            " starting the debugger") in caplog.text
    assert "hosting-unit-secret" not in caplog.text


def test_a_load_error_is_logged_once_and_served_as_a_500(hosted_site, caplog):
    write_web_config(hosted_site, WSGI_HANDLER="handlerpkg.app.missing")
    hosted = HostedApplication()
    environ = {"APPL_PHYSICAL_PATH": str(hosted_site)}
    caplog.set_level(logging.INFO, logger="iiswsgi")
    for _ in range(2):
        response = []
        body = b"".join(hosted(dict(environ), started(response)))
        assert response[0][0] == "500 Internal Server Error"
        assert dict(response[0][1])["Content-Length"] == str(len(body))
        assert (b"HandlerError: WSGI_HANDLER &#x27;handlerpkg.app.missing"
                b"&#x27;: handlerpkg.app has no attribute &#x27;missing"
                b"&#x27;") in body
    assert isinstance(hosted.error, HandlerError)
    assert caplog.text.count("could not load the WSGI application") == 1


def test_the_load_error_page_escapes_and_redacts():
    logs.add_secret("errorpage-Kx7-secret")
    response = []
    body = b"".join(load_error_application(
        "ValueError: <script> errorpage-Kx7-secret")({}, started(response)))
    assert b"&lt;script&gt;" in body and b"<script>" not in body
    assert b"errorpage-Kx7-secret" not in body
    assert b"[redacted]" in body
    assert response[0][1] == [("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Length", str(len(body)))]


def test_doctor_loads_an_iiswsgi_from_before_the_switches(tmp_path):
    # The site's interpreter may have an older iiswsgi, whose load() takes
    # no debugger/telemetry switches: doctor's script patches it instead.
    package = tmp_path / "old" / "iiswsgi"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "hosting.py").write_text(
        "import sys\n"
        "def start_debugger(address, secret):\n"
        "    raise AssertionError('the debugger was started')\n"
        "def add_telemetry(application, key):\n"
        "    raise AssertionError('telemetry was added')\n"
        "class HostedApplication:\n"
        "    def load(self, environ):\n"
        "        start_debugger('localhost:5678', 'secret')\n"
        "        add_telemetry(None, 'key')\n"
        "        sys.stdout.write('loaded ' + environ['APPL_PHYSICAL_PATH'])\n")
    # -S and cwd: neither this checkout's editable install nor the folder
    # it runs in shadows the old iiswsgi.
    result = subprocess.run(
        [sys.executable, "-S", "-c", doctor._LOAD, str(tmp_path)],
        cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=str(tmp_path / "old")),
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    printed, _, outcome = result.stdout.rpartition("\n" + doctor._MARKER)
    assert printed == "loaded %s" % tmp_path
    assert json.loads(outcome) == {"ok": True}
