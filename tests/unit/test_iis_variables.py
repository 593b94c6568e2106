"""IIS's server variables (iiswsgi.iis.variables)."""

import os

from iiswsgi.iis.variables import server_variables


def test_local_folder_is_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    variables = server_variables("/app/a/b", "/app/a/b?q=1", "site",
                                 app_path="/app", site_id=3)
    physical = os.path.join(str(tmp_path), "site", "")
    assert variables["APPL_PHYSICAL_PATH"] == physical
    assert variables["PATH_TRANSLATED"] == os.path.join(physical, "a", "b")
    assert variables["APPL_MD_PATH"] == "/LM/W3SVC/3/ROOT/app"
    assert variables["QUERY_STRING"] == "q=1"
    assert variables["REQUEST_URI"] == variables["UNENCODED_URL"] == \
        "/app/a/b?q=1"
    assert variables["SCRIPT_NAME"] == variables["PATH_INFO"] == \
        variables["URL"] == "/app/a/b"
    assert variables["HTTPS"] == "off"
    assert variables["SERVER_PORT_SECURE"] == "0"


def test_windows_path_taken_as_given():
    variables = server_variables(
        "/app/x/y.txt", "/app/x/y.txt", "C:\\inetpub\\app\\",
        app_path="/app", resolve_physical_path=False)
    assert variables["APPL_PHYSICAL_PATH"] == "C:\\inetpub\\app\\"
    assert variables["PATH_TRANSLATED"] == "C:\\inetpub\\app\\x\\y.txt"


def test_https():
    variables = server_variables("/", "/", "C:\\w\\", server_port="443",
                                 https=True, resolve_physical_path=False)
    assert (variables["HTTPS"], variables["SERVER_PORT_SECURE"],
            variables["SERVER_PORT"]) == ("on", "1", "443")


def test_complete_set_adds_what_iis_sends_empty(tmp_path):
    short = server_variables("/hello", "/hello", str(tmp_path))
    full = server_variables("/hello", "/hello", str(tmp_path),
                            complete=True)
    added = set(full) - set(short)
    assert {"CERT_SUBJECT", "CERT_COOKIE", "HTTPS_KEYSIZE", "CONTENT_TYPE",
            "SCRIPT_FILENAME", "CACHE_URL"} <= added
    assert len(full) == 45
    assert all(full[name] == "" for name in added
               if name not in ("SCRIPT_FILENAME", "CACHE_URL"))
    assert full["SCRIPT_FILENAME"] == full["PATH_TRANSLATED"] == \
        os.path.join(str(tmp_path), "hello")
    assert full["CACHE_URL"] == "http://localhost:80/hello"
    assert {name: full[name] for name in short} == short
