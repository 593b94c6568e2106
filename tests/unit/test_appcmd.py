"""iiswsgi.iis.appcmd: finding appcmd, quoting, parsing what it prints, its
errors; run against the fake appcmd (tests/support/fake_appcmd.py) as a
real process."""

import os
import subprocess
import sys

import pytest

from iiswsgi import safexml
from iiswsgi.iis import appcmd
from iiswsgi.iis.cmdline import quote_path
from iiswsgi.iis.expand import expand_variables
from iiswsgi.registration import (handler_snippet, script_processor,
                                  venv_redirector)
from tests.support import fake_appcmd
from tests.support.apphost import (FAKE_APPCMD, write_apphost_config,
                                   write_fake_appcmd)


@pytest.fixture
def fake(tmp_path):
    """An appcmd (a fake) and the applicationHost.config it works on."""
    config = write_apphost_config(tmp_path / "applicationHost.config")
    command = [write_fake_appcmd(tmp_path / "bin"),
               "/apphostconfig:" + config]
    return appcmd.Appcmd(command), config


# -- quoting ----------------------------------------------------------------

def test_bracket_expression_quotes_every_value():
    assert appcmd.bracket_expression(
        fullPath="C:\\Program Files\\Python313\\python.exe",
        arguments="-m iiswsgi", signalBeforeTerminateSeconds=30,
        flushNamedPipe=False) == (
        "[fullPath='C:\\Program Files\\Python313\\python.exe',"
        "arguments='-m iiswsgi',signalBeforeTerminateSeconds='30',"
        "flushNamedPipe='false']")


def test_bracket_expression_keeps_double_quotes():
    assert appcmd.bracket_expression(fullPath='"C:\\a b\\python.exe"') == (
        "[fullPath='\"C:\\a b\\python.exe\"']")


def test_bracket_expression_refuses_a_single_quote():
    with pytest.raises(ValueError) as caught:
        appcmd.bracket_expression(fullPath="C:\\it's\\python.exe")
    assert "fullPath" in str(caught.value)
    assert "single quote" in str(caught.value)


def test_bracket_expression_refuses_a_bad_name():
    with pytest.raises(ValueError):
        appcmd.bracket_expression(**{"full path": "x"})


def test_quote_path_and_script_processor():
    assert quote_path("C:\\Python313\\python.exe") == (
        "C:\\Python313\\python.exe")
    assert quote_path("C:\\Program Files\\Python\\python.exe") == (
        '"C:\\Program Files\\Python\\python.exe"')
    assert quote_path('"C:\\a b\\python.exe"') == '"C:\\a b\\python.exe"'
    assert script_processor('"C:\\a b\\python.exe"', "-m iiswsgi") == (
        '"C:\\a b\\python.exe"|-m iiswsgi')


def test_handler_snippet_escapes_the_quotes():
    processor = '"C:\\Program Files\\Python\\python.exe"|-m iiswsgi'
    text = handler_snippet(processor, "app.application")
    assert "&quot;C:\\Program Files\\Python\\python.exe&quot;|-m iiswsgi" in (
        text)
    root = safexml.parse(text)
    handler = root.find("system.webServer/handlers/add")
    assert handler.get("scriptProcessor") == processor
    assert handler.get("modules") == "FastCgiModule"
    assert handler.get("responseBufferLimit") == "0"
    assert root.find("appSettings/add").attrib == {
        "key": "WSGI_HANDLER", "value": "app.application"}


# -- parsing ----------------------------------------------------------------

@pytest.mark.parametrize("output, message", [
    ('ERROR ( message:Cannot find SITE object with identifier "x". )',
     'Cannot find SITE object with identifier "x".'),
    ("ERROR ( hresult:80070005, message:Failed to commit configuration"
     " changes.\r\n\r\nAccess is denied.\r\n. )",
     "Failed to commit configuration changes. Access is denied. ."),
    ("some text\nERROR ( message:Cannot find requested collection"
     " element. )\n", "Cannot find requested collection element."),
    ("Applied configuration changes to section", None),
])
def test_parse_error_message(output, message):
    assert appcmd.parse_error_message(output) == message


def test_parse_objects():
    rows = appcmd.parse_objects(
        '<?xml version="1.0" encoding="UTF-8"?>\n<appcmd>\n'
        '  <SITE SITE.NAME="Default Web Site" id="1"'
        ' bindings="http/*:80:,https/*:443:" state="Started" />\n'
        '  <VDIR VDIR.NAME="Default Web Site/" APP.NAME="Default Web Site/"'
        ' path="/" physicalPath="%SystemDrive%\\inetpub\\wwwroot" />\n'
        "</appcmd>\n")
    assert rows == [
        ("SITE", {"SITE.NAME": "Default Web Site", "id": "1",
                  "bindings": "http/*:80:,https/*:443:", "state": "Started"}),
        ("VDIR", {"VDIR.NAME": "Default Web Site/",
                  "APP.NAME": "Default Web Site/", "path": "/",
                  "physicalPath": "%SystemDrive%\\inetpub\\wwwroot"})]


@pytest.mark.parametrize("output", [
    # appcmd list config /xml
    '<?xml version="1.0" encoding="UTF-8"?>\n<appcmd>\n'
    '<CONFIG CONFIG.SECTION="system.webServer/fastCgi"'
    ' path="MACHINE/WEBROOT/APPHOST" overrideMode="Inherit" locked="false">'
    '<system.webServer-fastCgi><application fullPath="C:\\P\\python.exe"'
    ' arguments="-m iiswsgi" /></system.webServer-fastCgi></CONFIG>'
    "</appcmd>",
    # appcmd list config, without /xml
    '<system.webServer>\n  <fastCgi>\n    <application'
    ' fullPath="C:\\P\\python.exe" arguments="-m iiswsgi" />\n  </fastCgi>\n'
    "</system.webServer>\n",
])
def test_parse_section_either_form(output):
    section = appcmd.parse_section(output, "system.webServer/fastCgi")
    assert [dict(e.attrib) for e in section] == [
        {"fullPath": "C:\\P\\python.exe", "arguments": "-m iiswsgi"}]


def test_parse_section_missing():
    with pytest.raises(appcmd.AppcmdError) as caught:
        appcmd.parse_section("<appcmd />", "system.webServer/fastCgi")
    assert "no system.webServer/fastCgi section" in str(caught.value)


def test_doctype_is_refused():
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE appcmd [\n'
            '<!ENTITY a "aaaaaaaaaa">\n<!ENTITY b "&a;&a;&a;&a;&a;">\n]>\n'
            '<appcmd><SITE SITE.NAME="&b;" /></appcmd>')
    with pytest.raises(safexml.XMLError) as caught:
        appcmd.parse_objects(bomb, "appcmd list sites")
    assert "appcmd list sites: line 2" in str(caught.value)
    assert "DOCTYPE" in str(caught.value)
    external = ('<!DOCTYPE x SYSTEM "file:///etc/passwd"><appcmd />')
    with pytest.raises(safexml.XMLError):
        appcmd.parse_objects(external)


def test_malformed_xml_says_where():
    with pytest.raises(safexml.XMLError) as caught:
        appcmd.parse_objects("<appcmd>\n<SITE name='x'>\n</appcmd>",
                             "appcmd list sites")
    assert "appcmd list sites is not well-formed XML: line 3" in str(
        caught.value)


def test_expand_environment():
    env = {"SystemDrive": "C:", "IIS_SITES_HOME": "D:\\Sites"}
    assert expand_variables(
        "%SYSTEMDRIVE%\\inetpub\\%iis_sites_home%\\%NOPE%", env) == (
        "C:\\inetpub\\D:\\Sites\\%NOPE%")


def test_keys_compare_in_any_case():
    entries = [{"fullPath": "C:\\Python313\\python.exe",
                "arguments": "-m iiswsgi"}]
    assert appcmd.find_fastcgi_application(
        entries, "c:\\PYTHON313\\Python.exe", "-M IISWSGI") is entries[0]
    assert appcmd.find_fastcgi_application(
        entries, "C:\\Python313\\python.exe", "-m iiswsgi.cli") is None
    assert appcmd.same_key({"fullPath": "x"}, "X", "")


# -- finding appcmd ---------------------------------------------------------

def test_candidates_in_order():
    env = {"IIS_BIN": os.path.join("iis", "express"),
           "WINDIR": os.path.join("c", "windows")}
    assert appcmd.candidates(env, wow64=False) == [
        os.path.join("iis", "express", "appcmd.exe"),
        os.path.join("c", "windows", "System32", "inetsrv", "appcmd.exe")]
    # A 32-bit Python on 64-bit Windows: System32 is SysWOW64, no appcmd.
    assert appcmd.candidates({"WINDIR": "w"}, wow64=True) == [
        os.path.join("w", "Sysnative", "inetsrv", "appcmd.exe"),
        os.path.join("w", "System32", "inetsrv", "appcmd.exe")]


def test_find_prefers_iis_bin(tmp_path):
    express = write_fake_appcmd(tmp_path / "express")
    system = write_fake_appcmd(tmp_path / "windows" / "System32" / "inetsrv")
    env = {"IIS_BIN": str(tmp_path / "express"),
           "WINDIR": str(tmp_path / "windows")}
    assert appcmd.find_appcmd(environ=env, wow64=False) == [express]
    del env["IIS_BIN"]
    assert appcmd.find_appcmd(environ=env, wow64=False) == [system]


def test_not_found_names_every_place(tmp_path):
    env = {"IIS_BIN": str(tmp_path / "express"),
           "WINDIR": str(tmp_path / "windows")}
    with pytest.raises(appcmd.AppcmdNotFound) as caught:
        appcmd.find_appcmd(environ=env, wow64=True)
    message = str(caught.value)
    for path in appcmd.candidates(env, wow64=True):
        assert path in message
    assert "Install IIS" in message


def test_explicit_command(tmp_path):
    path = write_fake_appcmd(tmp_path / "IIS Express")
    assert appcmd.find_appcmd(path) == [path]
    assert appcmd.find_appcmd([path, "/apphostconfig:x"]) == [
        path, "/apphostconfig:x"]
    with pytest.raises(appcmd.AppcmdNotFound) as caught:
        appcmd.find_appcmd(str(tmp_path / "nope.exe"))
    assert str(tmp_path / "nope.exe") in str(caught.value)


# -- running it -------------------------------------------------------------

def test_error_carries_command_status_and_message(fake):
    command, config = fake
    with pytest.raises(appcmd.AppcmdError) as caught:
        command.run("list", "site", "No Such Site")
    error = caught.value
    assert error.returncode != 0
    assert error.message == (
        'Cannot find SITE object with identifier "No Such Site".')
    assert "list site" in error.command and "No Such Site" in error.command
    assert "(exit status %d)" % error.returncode in str(error)
    assert not error.access_denied


def test_access_denied_is_recognised(fake, monkeypatch):
    command, _ = fake
    monkeypatch.setenv("IISWSGI_FAKE_APPCMD_DENIED", "1")
    with pytest.raises(appcmd.AppcmdError) as caught:
        appcmd.list_fastcgi_applications(command)
    assert caught.value.access_denied
    assert "insufficient permissions" in caught.value.message


def test_a_program_that_will_not_run(tmp_path):
    path = tmp_path / "appcmd.exe"
    path.write_text("not a program")
    with pytest.raises(appcmd.AppcmdError) as caught:
        appcmd.Appcmd(str(path)).run("list", "sites")
    assert "could not run it" in str(caught.value)


def test_add_list_remove(fake):
    command, config = fake
    python = '"C:\\Program Files\\Python 3\\python.exe"'
    assert appcmd.list_fastcgi_applications(command) == []
    appcmd.add_fastcgi_application(
        python, "-m iiswsgi", appcmd=command, signalBeforeTerminateSeconds=30,
        environment_variables={"PYTHONPATH": "C:\\my app;D:\\lib",
                               "EMPTY": ""})
    appcmd.add_fastcgi_application("C:\\Python313\\python.exe",
                                   appcmd=command)
    entries = appcmd.list_fastcgi_applications(command)
    assert entries == [
        {"fullPath": python, "arguments": "-m iiswsgi",
         "signalBeforeTerminateSeconds": "30",
         "environmentVariables": {"PYTHONPATH": "C:\\my app;D:\\lib",
                                  "EMPTY": ""}},
        {"fullPath": "C:\\Python313\\python.exe", "arguments": "",
         "environmentVariables": {}}]
    # What IIS reads back is the value given, quotes and spaces included.
    section = safexml.parse_file(config).find("system.webServer/fastCgi")
    assert section[0].get("fullPath") == python

    with pytest.raises(appcmd.AppcmdError) as caught:
        appcmd.add_fastcgi_application(python.upper(), "-M IISWSGI",
                                       appcmd=command)
    assert caught.value.duplicate
    assert "Cannot add duplicate collection entry" in caught.value.message

    appcmd.remove_fastcgi_application(python, "-m iiswsgi", appcmd=command)
    assert [e["fullPath"] for e in appcmd.list_fastcgi_applications(
        command)] == ["C:\\Python313\\python.exe"]
    with pytest.raises(appcmd.AppcmdError) as caught:
        appcmd.remove_fastcgi_application(python, "-m iiswsgi",
                                          appcmd=command)
    assert caught.value.not_found
    assert caught.value.returncode != 0


def test_list_sites(fake):
    command, _ = fake
    sites = appcmd.list_sites(command, environ={"SystemDrive": "E:"})
    assert [(s.name, s.id) for s in sites] == [("Default Web Site", "1")]
    apps = sites[0].applications
    assert [(a.name, a.path, a.application_pool) for a in apps] == [
        ("Default Web Site/", "/", "DefaultAppPool"),
        ("Default Web Site/myapp", "/myapp", "MyAppPool")]
    root = apps[0].root
    assert root.physical_path == "%SystemDrive%\\inetpub\\wwwroot"
    assert root.expanded_path == "E:\\inetpub\\wwwroot"
    assert apps[1].root.expanded_path == "C:\\inetpub\\myapp"


def test_list_objects(fake):
    command, _ = fake
    rows = command.list_objects("vdirs")
    assert rows == [
        ("VDIR", {"VDIR.NAME": "Default Web Site/",
                  "APP.NAME": "Default Web Site/", "path": "/",
                  "physicalPath": "%SystemDrive%\\inetpub\\wwwroot"}),
        ("VDIR", {"VDIR.NAME": "Default Web Site/myapp/",
                  "APP.NAME": "Default Web Site/myapp", "path": "/",
                  "physicalPath": "C:\\inetpub\\myapp"})]


# -- the fake itself --------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("[fullPath='C:\\a b\\p.exe',arguments='-m x']",
     {"fullPath": "C:\\a b\\p.exe", "arguments": "-m x"}),
    ("[name=plain,value='a,b]c']", {"name": "plain", "value": "a,b]c"}),
    ("[fullPath='\"C:\\a b\\p.exe\"']", {"fullPath": '"C:\\a b\\p.exe"'}),
    ("[arguments='']", {"arguments": ""}),
])
def test_fake_parses_selectors(text, expected):
    assert fake_appcmd.parse_selector(text) == (expected, len(text))


def test_fake_parses_paths():
    assert fake_appcmd.parse_path(
        "[fullPath='p',arguments=''].environmentVariables.[name='A',"
        "value='1']") == (
        [{"fullPath": "p", "arguments": ""}, {"name": "A", "value": "1"}],
        ["environmentVariables"])


@pytest.mark.parametrize("text", [
    "fullPath='p'", "[fullPath='p'", "[fullPath='p]", "[fullPath]",
    "[a='1'].environmentVariables"])
def test_fake_refuses_bad_syntax(text):
    with pytest.raises(fake_appcmd.Failure):
        fake_appcmd.parse_path(text)


def test_fake_line_format(tmp_path):
    config = write_apphost_config(tmp_path / "a.config")

    def run(*args):
        return subprocess.run(
            [sys.executable, FAKE_APPCMD, "/apphostconfig:" + config]
            + list(args), capture_output=True, text=True, timeout=60)
    assert run("list", "sites").stdout == (
        'SITE "Default Web Site" (id:1,bindings:http/*:80:,state:Started)\n')
    assert run("list", "apps", "/site.name:Default Web Site").stdout == (
        'APP "Default Web Site/" (applicationPool:DefaultAppPool)\n'
        'APP "Default Web Site/myapp" (applicationPool:MyAppPool)\n')
    assert run("list", "vdir", "/app.name:Default Web Site/myapp",
               "/text:physicalPath").stdout == "C:\\inetpub\\myapp\n"
    result = run("set", "config", "/section:fastCgi", "/+[arguments='x']")
    assert result.returncode != 0
    assert result.stdout.startswith("ERROR ( message:New application object"
                                    " missing required attributes")


def test_venv_redirector(tmp_path):
    venv = tmp_path / "venv"
    (venv / "Scripts").mkdir(parents=True)
    python = venv / "Scripts" / "python.exe"
    python.write_text("")
    (venv / "pyvenv.cfg").write_text(
        "home = C:\\Python313\ninclude-system-site-packages = false\n"
        "version = 3.13.1\n")
    found = venv_redirector(str(python))
    assert found.pyvenv_cfg == str(venv / "pyvenv.cfg")
    assert found.home == "C:\\Python313"
    assert found.site_packages == os.path.join(str(venv), "Lib",
                                               "site-packages")
    # Before 3.7.2 a venv's python.exe was a copy, not a redirector.
    (venv / "pyvenv.cfg").write_text("home = C:\\Python36\nversion = 3.6.8\n")
    assert venv_redirector(str(python)) is None
    # No pyvenv.cfg: a base installation.
    (venv / "pyvenv.cfg").unlink()
    assert venv_redirector(str(python)) is None
