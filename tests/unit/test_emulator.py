"""The emulator's configuration reading and IIS's rules it follows."""

import os
import sys
import time

import pytest

from iiswsgi import safexml
from iiswsgi.emulator.app import _status
from iiswsgi.emulator.config import (
    Application, ConfigError, FastCgiSettings, HandlerRule, WebConfigCache,
    load_site)
from iiswsgi.iis.cmdline import split_command_line
from iiswsgi.emulator.pool import Pool
from iiswsgi.emulator.process import ProcessFailure


@pytest.mark.parametrize("line, words", [
    ("-m iiswsgi", ["-m", "iiswsgi"]),
    ('-m iiswsgi.cli serve "C:\\my site\\iis_fcgi.ini"',
     ["-m", "iiswsgi.cli", "serve", "C:\\my site\\iis_fcgi.ini"]),
    ("C:\\path\\x.py  arg", ["C:\\path\\x.py", "arg"]),
    ('"a\\\\" b', ["a\\", "b"]),           # 2n backslashes + quote
    ('a\\"b c', ['a"b', "c"]),             # 2n+1 backslashes + quote
    ('"" x', ["", "x"]),
    ('"say ""hi"""', ['say "hi"']),
    ("", []),
    ("   ", []),
    ('a\\\\"b c" d\\"e', ['a\\b c', 'd"e']),
])
def test_split_command_line(line, words):
    assert split_command_line(line) == words


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


@pytest.mark.parametrize("lines, status, headers", [
    ([b"Content-Type: text/plain"], "200 OK",
     [("Content-Type", "text/plain")]),
    ([b"Status: 404"], "404 Not Found", []),
    ([b"Status: 299 Fine Thanks", b"X-A: b"], "299 Fine Thanks",
     [("X-A", "b")]),
    ([b"Location: /x"], "302 Found", [("Location", "/x")]),
    ([b"Status: 301", b"Location: /x"], "301 Moved Permanently",
     [("Location", "/x")]),
    ([b"Connection: close", b"Transfer-Encoding: chunked", b"X: y"],
     "200 OK", [("X", "y")]),
])
def test_cgi_status_and_headers(lines, status, headers):
    assert _status(lines) == (status, headers)


@pytest.mark.parametrize("lines", [[b"no colon"], [b"Bad Name: x"],
                                   [b"Status: abc"]])
def test_malformed_cgi_headers(lines):
    with pytest.raises(ProcessFailure, match="malformed headers"):
        _status(lines)


def _gateway_settings(**values):
    return FastCgiSettings(sys.executable, "-m iiswsgi", **values)


def test_pool_reuse_and_idle_timeout():
    # Real gateway processes: started on acquire, never sent a request.
    pool = Pool(_gateway_settings(max_instances=1, queue_length=1,
                                  idle_timeout=10), dict(os.environ))
    try:
        process = pool.acquire()
        assert pool.size == 1 and process.alive()
        pool.release(process, reusable=True)
        assert pool.acquire() is process       # reused while idle
        pool.release(process, reusable=True)
        pool.reap_idle(now=time.monotonic() + 5)
        assert pool.size == 1
        pool.reap_idle(now=time.monotonic() + 11)
        assert pool.size == 0
        assert process.wait(10) is not None    # stopped: it saw end of file
    finally:
        pool.close()


def test_missing_executable_is_a_start_failure(tmp_path):
    pool = Pool(FastCgiSettings(str(tmp_path / "python.exe")), {})
    with pytest.raises(ProcessFailure) as failure:
        pool.acquire()
    assert "is not an executable file" in failure.value.detail
    assert pool.size == 0
