"""The emulator's reading of a site (iiswsgi.emulator.config): its
applications, the web.config files that apply to a path, the FastCGI
settings of a handler."""

import os
import time

import pytest

from iiswsgi import safexml
from iiswsgi.emulator.config import (
    Application, ConfigError, FastCgiSettings, HandlerRule, Site,
    WebConfigCache, load_site)


def _element(text):
    return safexml.parse(text)


def test_fastcgi_settings_defaults_and_values():
    settings = FastCgiSettings.from_element(_element(
        '<application fullPath="C:\\Python\\python.exe" arguments="-m iiswsgi"'
        ' maxInstances="0" queueLength="7" stderrMode="IgnoreAndReturn200">'
        '<environmentVariables><environmentVariable name="A" value="1" />'
        "</environmentVariables></application>"), "x.config")
    assert settings.max_instances == 4            # 0: IIS decides
    assert settings.queue_length == 7
    assert settings.instance_max_requests == 200
    assert settings.activity_timeout == 70
    assert settings.request_timeout == 90
    assert settings.stderr_mode == "IgnoreAndReturn200"
    assert settings.environment_variables == {"A": "1"}
    assert settings.key == "c:\\python\\python.exe|-m iiswsgi"


@pytest.mark.parametrize("attributes, message", [
    ('maxInstances="many"', "maxInstances='many' for py is not a whole"),
    ('activityTimeout="5"', "activityTimeout=5 for py is outside 10-3600"),
    ('stderrMode="Shout"', "stderrMode='Shout' for py is not one of"),
    ("", None),
])
def test_fastcgi_settings_errors_name_file_and_attribute(attributes,
                                                         message):
    text = '<application fullPath="py" %s />' % attributes
    if message is None:
        FastCgiSettings.from_element(_element(text), "x.config")
        return
    with pytest.raises(ConfigError) as error:
        FastCgiSettings.from_element(_element(text), "x.config")
    assert str(error.value).startswith("x.config: ")
    assert message in str(error.value)


def test_fastcgi_settings_need_full_path():
    with pytest.raises(ConfigError, match="has no fullPath"):
        FastCgiSettings.from_element(_element("<application />"), "x")


@pytest.mark.parametrize("path, verb, method, relative, matches", [
    ("*", "*", "GET", "", True),
    ("*", "*", "DELETE", "a/b/c", True),
    ("*.py", "*", "GET", "app/run.PY", True),
    ("*.py", "*", "GET", "app.py/x", False),
    ("*", "GET,HEAD", "POST", "x", False),
    ("*", "GET, HEAD", "head", "x", True),
    ("api/*", "*", "GET", "api/items", True),
    ("api/*", "*", "GET", "other/items", False),
])
def test_handler_matching(path, verb, method, relative, matches):
    rule = HandlerRule.from_element(_element(
        '<add name="h" path="%s" verb="%s" modules="FastCgiModule"'
        ' scriptProcessor="p|a" />' % (path, verb)), "web.config")
    assert rule.matches(method, relative) is matches


def test_script_processor_without_arguments_names_the_bare_application():
    rule = HandlerRule.from_element(_element(
        '<add name="php" modules="FastCgiModule"'
        ' scriptProcessor="C:\\PHP\\php-cgi.exe" />'), "web.config")
    settings = FastCgiSettings("c:\\php\\PHP-CGI.exe")
    assert rule.key == settings.key


def test_response_buffer_limit_must_be_a_number():
    with pytest.raises(ConfigError, match="responseBufferLimit='-1'"):
        HandlerRule.from_element(_element(
            '<add name="h" responseBufferLimit="-1" />'), "web.config")


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)


def _handlers(*entries):
    return ("<configuration><system.webServer><handlers>%s</handlers>"
            "</system.webServer></configuration>" % "".join(entries))


def test_nested_web_config_handlers(tmp_path):
    root = str(tmp_path)
    _write(os.path.join(root, "WEB.CONFIG"), _handlers(
        '<add name="py" path="*" modules="FastCgiModule"'
        ' scriptProcessor="p|a" />'))
    _write(os.path.join(root, "static", "web.config"), _handlers(
        '<remove name="py" />'))
    _write(os.path.join(root, "api", "web.config"), _handlers(
        '<add name="api" path="*" modules="FastCgiModule"'
        ' scriptProcessor="q|b" />'))
    _write(os.path.join(root, "bare", "web.config"), _handlers("<clear />"))
    cache = WebConfigCache()
    app = Application("/", root)

    def names(relative):
        return [handler.name for handler in
                cache.configuration(app, relative).handlers]
    assert names("index") == ["py"]
    assert names("static/site.css") == []
    assert names("api/items") == ["api", "py"]      # deeper ones first
    assert names("bare/x") == []
    assert names("missing/folder/x") == ["py"]
    # Re-read when it changes.
    _write(os.path.join(root, "static", "web.config"), _handlers())
    os.utime(os.path.join(root, "static", "web.config"),
             ns=(time.time_ns() + 10**9,) * 2)
    assert names("static/site.css") == ["py"]


def test_malformed_web_config_names_the_file(tmp_path):
    _write(str(tmp_path / "web.config"), "<configuration><oops>")
    with pytest.raises(ConfigError) as error:
        WebConfigCache().configuration(Application("/", str(tmp_path)),
                                       "x")
    assert str(tmp_path / "web.config") in str(error.value)
    assert "line 1" in str(error.value)


def test_application_routing_is_case_insensitive_on_segments(tmp_path):
    app = Application("/MyApp", str(tmp_path))
    assert app.relative("/myapp") == ""
    assert app.relative("/MYAPP/a/b") == "a/b"
    assert app.relative("/myapplication") is None
    assert Application("/", str(tmp_path)).relative("/x/y") == "x/y"


def test_load_site_without_applicationhost(tmp_path):
    site = load_site(str(tmp_path))
    assert [(app.path, app.physical_path) for app in site.applications] == \
        [("/", str(tmp_path))]
    with pytest.raises(ConfigError, match="is not a folder"):
        load_site(str(tmp_path / "missing"))


def _settings(*pairs):
    return "<appSettings>%s</appSettings>" % "".join(
        '<add key="%s" value="%s" />' % pair for pair in pairs)


def _inheritance_site(tmp_path, parent_text):
    root, child = tmp_path / "root", tmp_path / "child"
    _write(str(root / "web.config"), parent_text)
    _write(str(child / "web.config"), (
        "<configuration>%s<system.webServer><handlers>"
        '<add name="own" path="*.own" modules="FastCgiModule"'
        ' scriptProcessor="c|d" /></handlers></system.webServer>'
        "</configuration>") % _settings(("B", "child"), ("C", "child")))
    parent = Application("/", str(root))
    return parent, Application("/Child", str(child))


def test_child_application_inherits_its_parents_web_config(tmp_path):
    parent, child = _inheritance_site(tmp_path, (
        "<configuration>%s<system.webServer><handlers>"
        '<add name="py" path="*" modules="FastCgiModule"'
        ' scriptProcessor="p|a" /></handlers></system.webServer>'
        '<location path="child/deep">%s</location>'
        '<location path="other">%s</location></configuration>' % (
            _settings(("A", "parent"), ("B", "parent")),
            _settings(("D", "deep")), _settings(("E", "other")))))
    cache = WebConfigCache()
    config = cache.configuration(child, "x", [parent])
    # The child's own entries first, then the inherited ones.
    assert [handler.name for handler in config.handlers] == ["own", "py"]
    assert config.app_settings == {"A": "parent", "B": "child",
                                   "C": "child"}
    assert config.files[0] == str(tmp_path / "root" / "web.config")
    # The parent's <location path> names the child by its URL, any case.
    assert cache.configuration(child, "DEEP/y", [parent]).app_settings[
        "D"] == "deep"
    # Without parents: the child's file alone, as before.
    assert [handler.name for handler in
            cache.configuration(child, "x").handlers] == ["own"]


def test_inherit_in_child_applications_false(tmp_path):
    parent, child = _inheritance_site(tmp_path, (
        '<configuration><location path="." inheritInChildApplications='
        '"false">%s<system.webServer><handlers>'
        '<add name="py" path="*" modules="FastCgiModule"'
        ' scriptProcessor="p|a" /></handlers></system.webServer></location>'
        "%s</configuration>" % (_settings(("A", "parent")),
                                _settings(("Z", "everywhere")))))
    cache = WebConfigCache()
    config = cache.configuration(child, "x", [parent])
    assert [handler.name for handler in config.handlers] == ["own"]
    assert config.app_settings == {"B": "child", "C": "child",
                                   "Z": "everywhere"}
    # The parent itself still has them.
    assert [handler.name for handler in
            cache.configuration(parent, "x").handlers] == ["py"]


def test_folders_between_parent_and_child_application(tmp_path):
    # /a/b is an application; /a is only a folder of the root's.
    root = tmp_path / "root"
    _write(str(root / "web.config"), "<configuration>%s</configuration>"
           % _settings(("A", "root")))
    _write(str(root / "a" / "web.config"), "<configuration>%s"
           "</configuration>" % _settings(("A", "a"), ("F", "a")))
    # The root's own a/b folder is the child's place: not read.
    _write(str(root / "a" / "b" / "web.config"), "<configuration>%s"
           "</configuration>" % _settings(("G", "hidden")))
    _write(str(tmp_path / "b" / "web.config"), "<configuration>%s"
           "</configuration>" % _settings(("H", "b")))
    parent = Application("/", str(root))
    child = Application("/a/b", str(tmp_path / "b"))
    assert WebConfigCache().configuration(child, "", [parent]).app_settings \
        == {"A": "a", "F": "a", "H": "b"}


def test_parents_of_an_application(tmp_path):
    apps = [Application(path, str(tmp_path)) for path in
            ("/a/b", "/ab", "/a", "/")]
    site = Site("s", 1, apps, [])
    assert [app.path for app in site.parents_of(apps[0])] == ["/", "/a"]
    assert [app.path for app in site.parents_of(apps[1])] == ["/"]
    assert site.parents_of(apps[3]) == []
