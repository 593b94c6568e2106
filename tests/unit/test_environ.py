"""IIS server variables to PEP 3333 paths."""

import pytest

from iiswsgi.gateway.environ import (build_environ, mount_point,
                                     remove_dot_segments, request_path,
                                     split_path)
from tests.support.iis import iis_params


def latin1(text):
    return text.encode("utf-8").decode("latin-1")


@pytest.mark.parametrize("md_path, mount", [
    ("/LM/W3SVC/1/ROOT", ""),
    ("/LM/W3SVC/1/ROOT/", ""),
    ("/LM/W3SVC/1/ROOT/app", "/app"),
    ("/LM/W3SVC/1/root/App/Sub", "/App/Sub"),
    ("/LM/W3SVC/12/ROOT/rooted", "/rooted"),
    ("/LM/W3SVC/1/ROOTS/x", ""),
])
def test_mount_point(md_path, mount):
    assert mount_point(md_path) == mount


@pytest.mark.parametrize("path, mount, expected", [
    ("/app/x", "/app", ("/app", "/x")),
    ("/APP/x", "/app", ("/APP", "/x")),
    ("/app", "/app", ("/app", "")),
    ("/app/", "/app", ("/app", "/")),
    ("/application/x", "/app", None),
    ("/other", "/app", None),
    ("/x", "", ("", "/x")),
    ("/app/x", "app/", ("/app", "/x")),
])
def test_split_path(path, mount, expected):
    assert split_path(path, mount) == expected


@pytest.mark.parametrize("raw, path", [
    ("/a%20b?x=%20", "/a b"),
    ("/caf%C3%A9", latin1("/café")),
    ("/a/./b/../c", "/a/c"),
    ("/a/%2e%2e/b", "/b"),
    ("/../../etc", "/etc"),
    ("/a/..", "/"),
    ("/a/b/.", "/a/b/"),
    ("http://example.com/x/y?q", "/x/y"),
    ("/a%2Fb", "/a/b"),
    ("/x#frag", "/x"),
])
def test_request_path(raw, path):
    assert request_path(raw) == path


def test_remove_dot_segments_keeps_plain_paths():
    assert remove_dot_segments("/a//b") == "/a//b"


def test_iis_virtual_directory_split():
    params = iis_params("/app/hello/world", app_path="/app", query="q=1")
    environ = build_environ(params)
    assert environ["SCRIPT_NAME"] == "/app"
    assert environ["PATH_INFO"] == "/hello/world"
    assert environ["QUERY_STRING"] == "q=1"


def test_iis_root_application():
    environ = build_environ(iis_params("/hello"))
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("", "/hello")


def test_iis_keeps_the_request_spelling_of_the_mount():
    environ = build_environ(iis_params("/APP/x", app_path="/app"))
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/APP", "/x")


def test_iis_utf8_url_from_unencoded_url():
    # IIS's own PATH_INFO comes in the ANSI code page: characters it cannot
    # represent become "?".  The raw URL is right.
    params = iis_params("/app/café/✓", app_path="/app")
    params["PATH_INFO"] = params["SCRIPT_NAME"] = "/app/caf?/?"
    environ = build_environ(params)
    assert environ["PATH_INFO"] == latin1("/café/✓")
    assert environ["SCRIPT_NAME"] == "/app"


def test_iis_request_uri_when_no_unencoded_url():
    params = iis_params("/app/a b", app_path="/app")
    del params["UNENCODED_URL"]
    assert build_environ(params)["PATH_INFO"] == "/a b"


def test_iis_falls_back_to_path_info():
    params = iis_params("/app/x y", app_path="/app")
    del params["UNENCODED_URL"], params["REQUEST_URI"]
    environ = build_environ(params)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/app", "/x y")


def test_query_string_untouched():
    environ = build_environ(iis_params("/x", query="a=%20b&c=d%26e"))
    assert environ["QUERY_STRING"] == "a=%20b&c=d%26e"


def test_original_url_ignored_unless_rewritten():
    params = iis_params("/handler.fcgi/real", raw_url="/handler.fcgi/real",
                        HTTP_X_ORIGINAL_URL="/admin/secret")
    assert build_environ(dict(params))["PATH_INFO"] == "/handler.fcgi/real"
    params["IIS_WasUrlRewritten"] = "1"
    assert build_environ(dict(params))["PATH_INFO"] == "/admin/secret"


def test_original_url_trusted_by_setting():
    params = iis_params("/handler.fcgi/x", HTTP_X_ORIGINAL_URL="/pretty%20url?q")
    environ = build_environ(params, trust_original_url=True)
    assert environ["PATH_INFO"] == "/pretty url"


def test_dot_segments_cannot_leave_the_application():
    params = iis_params("/app/x", app_path="/app",
                        raw_url="/app/../other/%2e%2e/x")
    environ = build_environ(params)
    # "/app/../other/../x" is "/x": not under /app, so not split there.
    assert environ["SCRIPT_NAME"] + environ["PATH_INFO"] == "/x"
    assert environ["SCRIPT_NAME"] == ""


def test_encoded_slash_does_not_choose_the_application():
    params = iis_params("/app/x", app_path="/app", raw_url="/app%2Fx")
    environ = build_environ(params)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/app", "/x")


def test_script_name_setting_forces_the_mount():
    environ = build_environ(iis_params("/site/app/x"), script_name="/site/app")
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/site/app", "/x")


def test_non_ascii_application_path():
    params = iis_params("/tëst/x", app_path="/tëst")
    params["APPL_MD_PATH"] = latin1("/LM/W3SVC/1/ROOT/tëst")
    environ = build_environ(params)
    assert environ["SCRIPT_NAME"] == latin1("/tëst")
    assert environ["PATH_INFO"] == "/x"


def test_nginx_split_is_kept():
    environ = build_environ({"SCRIPT_NAME": "", "PATH_INFO": "/a/b",
                             "REQUEST_URI": "/a/b?x", "REQUEST_METHOD": "GET",
                             "SERVER_NAME": "h", "SERVER_PORT": "80",
                             "SERVER_PROTOCOL": "HTTP/1.1"})
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("", "/a/b")


def test_missing_path_info_rebuilt_from_request_uri():
    environ = build_environ({"SCRIPT_NAME": "/mnt", "REQUEST_URI": "/mnt/a%20b"})
    assert environ["PATH_INFO"] == "/a b"


def test_other_servers_with_script_name_setting():
    environ = build_environ({"SCRIPT_NAME": "/mnt/a", "PATH_INFO": "",
                             "REQUEST_URI": "/mnt/a"}, script_name="/mnt")
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/mnt", "/a")


@pytest.mark.parametrize("https, scheme", [
    ("on", "https"), ("ON", "https"), ("off", "http"), (None, "http")])
def test_url_scheme(https, scheme):
    params = {"HTTPS": https} if https else {}
    assert build_environ(params)["wsgi.url_scheme"] == scheme


def test_required_variables_get_defaults():
    environ = build_environ({})
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert environ["QUERY_STRING"] == ""
    assert environ["SCRIPT_NAME"] == "" and environ["PATH_INFO"] == ""


def test_other_variables_pass_through():
    params = iis_params("/", LOGON_USER="DOMAIN\\me", CERT_SUBJECT="CN=x",
                        HTTP_X_CUSTOM="  spaced  ")
    environ = build_environ(params)
    assert environ["LOGON_USER"] == "DOMAIN\\me"
    assert environ["CERT_SUBJECT"] == "CN=x"
    assert environ["HTTP_X_CUSTOM"] == "  spaced  "
    assert environ["SERVER_SOFTWARE"] == "Microsoft-IIS/10.0"


def test_filesystem_path_finds_the_folder_whatever_the_encoding(tmp_path):
    from iiswsgi.gateway.environ import filesystem_path
    folder = tmp_path / "site ü ✓"
    folder.mkdir()
    as_utf8 = str(folder).encode("utf-8").decode("latin-1")
    assert filesystem_path(as_utf8) == str(folder)
    assert filesystem_path("C:\\plain\\") == "C:\\plain\\"
    assert filesystem_path("") == ""
    missing = "/nowhere/\xfc"
    assert filesystem_path(missing) == missing


def test_remount_splits_a_built_environ_as_build_environ_would():
    from iiswsgi.gateway.environ import remount
    built = build_environ({"APPL_MD_PATH": "/LM/W3SVC/1/ROOT/site",
                           "UNENCODED_URL": "/site/app/page?x=1",
                           "PATH_INFO": "/site/app/page",
                           "REQUEST_METHOD": "GET", "SERVER_NAME": "h",
                           "SERVER_PORT": "80",
                           "SERVER_PROTOCOL": "HTTP/1.1"})
    assert (built["SCRIPT_NAME"], built["PATH_INFO"]) == ("/site", "/app/page")
    direct = build_environ({"APPL_MD_PATH": "/LM/W3SVC/1/ROOT/site",
                            "UNENCODED_URL": "/site/app/page?x=1",
                            "PATH_INFO": "/site/app/page",
                            "REQUEST_METHOD": "GET", "SERVER_NAME": "h",
                            "SERVER_PORT": "80",
                            "SERVER_PROTOCOL": "HTTP/1.1"}, "/site/app")
    remount(built, "/site/app")
    assert (built["SCRIPT_NAME"], built["PATH_INFO"]) == (
        direct["SCRIPT_NAME"], direct["PATH_INFO"]) == ("/site/app", "/page")


@pytest.mark.parametrize("raw, path", [
    # IIS takes a backslash for a slash: /admin\..\public is /public.
    ("/admin\\..\\public", "/public"),
    ("/admin%5C..%5Cpublic", "/public"),
    # IIS decodes %uXXXX (to the character's UTF-8 bytes).
    ("/caf%u00e9", latin1("/café")),
    ("/%uD83D%uDE00", latin1("/\U0001F600")),
])
def test_iis_paths_are_normalised_as_iis_routes_them(raw, path):
    environ = build_environ(iis_params("/", raw_url=raw))
    assert environ["PATH_INFO"] == path


def test_other_servers_keep_backslashes():
    # nginx maps /admin\..\public as written, so the application must too.
    assert request_path("/admin\\..\\public") == "/admin\\..\\public"
    assert request_path("/admin\\..\\public", iis=True) == "/public"


@pytest.mark.parametrize("value", ["/first,/second", "/first, /second",
                                   "/a, http://evil/b"])
def test_original_url_sent_twice_is_not_trusted(value, caplog):
    params = iis_params("/handler.fcgi/real", raw_url="/handler.fcgi/real",
                        HTTP_X_ORIGINAL_URL=value, IIS_WasUrlRewritten="1")
    with caplog.at_level("WARNING", logger="iiswsgi.gateway.environ"):
        environ = build_environ(params)
    assert environ["PATH_INFO"] == "/handler.fcgi/real"
    assert "more than one URL" in caplog.text


def test_original_url_with_a_comma_in_a_segment_is_kept():
    params = iis_params("/x", HTTP_X_ORIGINAL_URL="/a,b/c",
                        IIS_WasUrlRewritten="1")
    assert build_environ(params)["PATH_INFO"] == "/a,b/c"
