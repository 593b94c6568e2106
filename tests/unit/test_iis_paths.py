"""The IIS rules for URL paths, and for naming a FastCGI application."""

import pytest

from iiswsgi.iis import appcmd
from iiswsgi.iis.paths import (decoded_path, has_control_character,
                              origin_form, printable, split_under)
from iiswsgi.iis.webconfig import (FastCgiApplication, Handler,
                                   find_application, script_processor)


@pytest.mark.parametrize("path, prefix, expected", [
    ("/App/x", "/app", ("/App", "/x")),
    ("/app", "/APP", ("/app", "")),
    ("/apple", "/app", None),
    ("/ap", "/app", None),
    ("sub/a", "SUB", ("sub", "/a")),
    ("/x", "", ("", "/x")),
])
def test_split_under(path, prefix, expected):
    assert split_under(path, prefix) == expected


@pytest.mark.parametrize("raw, expected", [
    ("/a%20b/../c", "/c"),
    ("/caf%C3%A9", "/caf\u00e9"),
    ("/%FF", "/\ufffd"),
    ("", "/"),
])
def test_decoded_path_is_utf8_as_iis_decodes_url(raw, expected):
    assert decoded_path(raw) == expected


def test_script_processor_leaves_out_the_bar_without_arguments():
    assert script_processor("C:\\php.exe", "") == "C:\\php.exe"
    assert script_processor("C:\\py.exe", "-m x") == "C:\\py.exe|-m x"
    assert FastCgiApplication("C:\\php.exe").script_processor == \
        "C:\\php.exe"
    # Either spelling names the same application.
    for written in ("C:\\PHP.exe", "C:\\php.exe|"):
        handler = Handler("h", script_processor=written)
        assert handler.key == FastCgiApplication("C:\\php.exe").key


def test_find_application_takes_models_and_appcmd_entries():
    handler = Handler("h", script_processor='"C:\\a b\\py.exe"|-M X')
    models = [FastCgiApplication("other"),
              FastCgiApplication('"C:\\a b\\py.exe"', "-m x")]
    assert find_application(models, handler) is models[1]
    entries = [{"fullPath": '"c:\\A B\\py.exe"', "arguments": "-m x"}]
    assert find_application(entries, handler) is entries[0]
    assert appcmd.find_fastcgi_application(
        entries, '"C:\\a b\\py.exe"', "-M x") is entries[0]
    assert find_application(entries, "py.exe", "-m x") is None


def test_argv_splits_arguments_as_windows_does():
    handler = Handler("h", script_processor='/usr/bin/py|-m "a b" c')
    assert handler.argv == ["/usr/bin/py", "-m", "a b", "c"]
    assert FastCgiApplication("/usr/bin/py", '-m "a b" c').argv == \
        handler.argv


def test_add_commands_are_the_entry_then_each_variable():
    commands = appcmd.add_fastcgi_application_commands(
        "py", "-m x", environment_variables={"A": "1"},
        signalBeforeTerminateSeconds=30)
    assert commands == [
        ["set", "config", "/section:system.webServer/fastCgi",
         "/+[fullPath='py',arguments='-m x',"
         "signalBeforeTerminateSeconds='30']", "/commit:apphost"],
        ["set", "config", "/section:system.webServer/fastCgi",
         "/+[fullPath='py',arguments='-m x'].environmentVariables."
         "[name='A',value='1']", "/commit:apphost"]]


def _site(site_id, *folders):
    from iiswsgi.iis.apphost import Application, Site, VirtualDirectory
    site = Site("s" + site_id, site_id)
    for index, folder in enumerate(folders):
        application = Application(site.name, "/app%d" % index, "pool")
        application.virtual_directories.append(
            VirtualDirectory("/", folder, folder))
        site.applications.append(application)
    return site


def test_expanded_paths_once_each_in_order_or_newest_first():
    from iiswsgi.iis.apphost import expanded_paths
    sites = [_site("2", "a", "b"), _site("10", "c", "a"), _site("x", "d")]
    assert list(expanded_paths(sites)) == ["a", "b", "c", "d"]
    assert list(expanded_paths(sites, newest_first=True)) == \
        ["a", "c", "b", "d"]
    assert list(expanded_paths(sites, keep=lambda app, directory:
                               app.path == "/app1")) == ["b", "a"]


def test_site_number():
    assert _site("12").number == 12
    assert _site("").number == 0
    with pytest.raises(ValueError):
        _site("x").number


def test_is_within(tmp_path):
    from iiswsgi.files import is_within
    assert is_within(str(tmp_path / "a" / "b"), str(tmp_path))
    assert is_within(str(tmp_path), str(tmp_path))
    assert not is_within(str(tmp_path) + "x", str(tmp_path))


@pytest.mark.parametrize("raw, expected", [
    ("/static\\..\\web.config", "/web.config"),
    ("/a%5C..%5Cb", "/b"),
    ("/caf%u00E9", "/caf\u00e9"),
    ("/%uD83D%uDE00", "/\U0001F600"),
    ("/%uD83D", "/\ufffd"),
    ("/%u00", "/%u00"),
])
def test_decoded_path_as_iis_normalises_it(raw, expected):
    assert decoded_path(raw) == expected


@pytest.mark.parametrize("target, expected", [
    ("http://host/a/b?q=1", "/a/b?q=1"),
    ("HTTPS://host:8080", "/"),
    ("http://host?q", "/?q"),
    ("/plain?x", "/plain?x"),
    ("*", "*"),
])
def test_origin_form(target, expected):
    assert origin_form(target) == expected


def test_printable_escapes_what_could_forge_a_log_line():
    assert printable("/a\r\n2026-01-01 INFO forged") == \
        "/a\\x0d\\x0a2026-01-01 INFO forged"
    assert printable("x\x00\x1b[31m\x7f\x85\u2028y") == \
        "x\\x00\\x1b[31m\\x7f\\x85\\u2028y"
    assert printable("/café/\u65e5") == "/café/\u65e5"
    assert printable(42) == "42"


def test_control_characters_in_a_url():
    assert has_control_character("/a\x00b")
    assert has_control_character("/a\tb")
    assert not has_control_character("/café")
