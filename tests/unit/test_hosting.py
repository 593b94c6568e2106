"""wfastcgi-style settings: web.config appSettings and WSGI_HANDLER."""

import sys

import pytest

from iiswsgi.hosting import HandlerError, resolve_handler
from iiswsgi.iis.webconfig import (ConfigError, find_web_config,
                                   read_app_settings)


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
