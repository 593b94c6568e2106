"""iiswsgi enable, disable and doctor, run as commands against the fake
appcmd (tests/support/fake_appcmd.py) and a real applicationHost.config
file."""

import os
import subprocess
import sys

import defusedxml
import pytest

from iiswsgi import safexml
from iiswsgi.iis.cmdline import quote_path
from iiswsgi.registration import handler_snippet
from tests.conftest import require
from tests.support.apphost import write_apphost_config, write_fake_appcmd
from tests.support.iis import ROOT

BIN = os.path.dirname(sys.executable)
# Where iiswsgi's dependencies are, for interpreters run outside this
# environment (a bare Python through a path with spaces).
DEPENDENCIES = os.path.dirname(os.path.dirname(defusedxml.__file__))

APP = '''\
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]
'''


class IIS:
    """A fake IIS: an applicationHost.config, the fake appcmd in
    %IIS_BIN%, and the environment the commands run in."""

    def __init__(self, tmp_path, fastcgi=()):
        self.tmp = tmp_path
        self.config = write_apphost_config(
            tmp_path / "applicationHost.config", fastcgi=fastcgi)
        self.appcmd = write_fake_appcmd(tmp_path / "iis")
        self.env = {key: value for key, value in os.environ.items()
                    if key not in ("WINDIR", "SystemRoot", "SYSTEMROOT",
                                   "IISWSGI_FAKE_APPCMD_DENIED")}
        self.env.update(IIS_BIN=str(tmp_path / "iis"),
                        IISWSGI_FAKE_APPHOST=self.config,
                        PYTHONPATH=os.pathsep.join((ROOT, DEPENDENCIES)),
                        PYTHONIOENCODING="utf-8")

    def run(self, *args, python=sys.executable, env=None, cwd=None):
        return subprocess.run(
            [python, "-m", "iiswsgi.cli"] + [str(arg) for arg in args],
            capture_output=True, text=True, timeout=120,
            stdin=subprocess.DEVNULL, cwd=cwd or str(self.tmp),
            env=dict(self.env, **(env or {})))

    def applications(self, config=None):
        root = safexml.parse_file(config or self.config)
        return [dict(element.attrib) for element in root.findall(
            "system.webServer/fastCgi/application")]


@pytest.fixture
def iis(tmp_path):
    return IIS(tmp_path)


def registered_entry(python=sys.executable):
    return {"fullPath": quote_path(python), "arguments": "-m iiswsgi",
            "signalBeforeTerminateSeconds": "30"}


def processor(python=sys.executable):
    return "%s|-m iiswsgi" % quote_path(python)


# -- enable and disable -----------------------------------------------------

def test_enable_twice_then_disable_twice(iis):
    first = iis.run("enable")
    assert first.returncode == 0, first.stderr
    assert ("Registered the FastCGI application %s in applicationHost.config"
            % processor() in first.stdout)
    assert "must name it exactly" in first.stdout
    assert "    scriptProcessor: %s\n" % processor() in first.stdout
    assert iis.applications() == [registered_entry()]

    second = iis.run("enable")
    assert second.returncode == 0, second.stderr
    assert "is already registered" in second.stdout
    assert iis.applications() == [registered_entry()]

    # The printed web.config is complete and names the registration.
    snippet = second.stdout[second.stdout.index("<?xml"):]
    root = safexml.parse(snippet)
    handler = root.find("system.webServer/handlers/add")
    assert handler.attrib == {
        "name": "Python FastCGI", "path": "*", "verb": "*",
        "modules": "FastCgiModule", "scriptProcessor": processor(),
        "resourceType": "Unspecified", "requireAccess": "Script",
        "responseBufferLimit": "0"}
    assert root.find("appSettings/add").get("key") == "WSGI_HANDLER"

    third = iis.run("disable")
    assert third.returncode == 0, third.stderr
    assert "is no longer registered" in third.stdout
    assert iis.applications() == []
    fourth = iis.run("disable")
    assert fourth.returncode == 0, fourth.stderr
    assert "is not registered" in fourth.stdout and "nothing to do" in (
        fourth.stdout)


def test_enable_keeps_other_applications(tmp_path):
    other = {"fullPath": "C:\\PHP\\php-cgi.exe", "arguments": ""}
    iis = IIS(tmp_path, fastcgi=[other])
    assert iis.run("enable").returncode == 0
    assert iis.run("disable").returncode == 0
    assert iis.applications() == [other]


def test_registered_in_another_case_counts(tmp_path):
    entry = {"fullPath": sys.executable.upper(), "arguments": "-M IISWSGI"}
    iis = IIS(tmp_path, fastcgi=[entry])
    result = iis.run("enable")
    assert result.returncode == 0, result.stderr
    assert "is already registered" in result.stdout
    assert iis.run("disable").returncode == 0
    assert iis.applications() == []


def test_duplicate_error_means_already_registered(iis):
    # An appcmd whose list does not show the entry (another tool added it
    # in the meantime): its "duplicate collection entry" error on add is
    # taken as "already registered".
    assert iis.run("enable").returncode == 0
    section = ("<appcmd><CONFIG CONFIG.SECTION=\"system.webServer/fastCgi\">"
               "<system.webServer-fastCgi /></CONFIG></appcmd>")
    wrapper = iis.tmp / "stale" / "appcmd.exe"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/sh\ncase \"$*\" in\n  *'list config'*) echo '%s';;\n"
        "  *) exec %s \"$@\";;\nesac\n" % (section, iis.appcmd))
    wrapper.chmod(0o755)
    result = iis.run("enable", env={"IIS_BIN": str(wrapper.parent)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is already registered" in result.stdout
    assert iis.applications() == [registered_entry()]


def test_console_scripts(iis):
    enable = os.path.join(BIN, "iiswsgi-enable")
    disable = os.path.join(BIN, "iiswsgi-disable")
    require(os.path.exists(enable) and os.path.exists(disable),
            "iiswsgi is not installed next to %s" % sys.executable)
    for command, words in ((enable, "Registered"),
                           (disable, "no longer registered")):
        result = subprocess.run([command], capture_output=True, text=True,
                                timeout=120, env=iis.env)
        assert result.returncode == 0, result.stderr
        assert words in result.stdout
    # The scripts' own interpreter is the one registered.
    assert iis.applications() == []


def test_iis_express_appcmd_first(iis):
    # As wfastcgi-enable takes it: an existing file first is appcmd, and
    # every argument after it is appcmd's.
    express = write_fake_appcmd(iis.tmp / "Program Files" / "IIS Express")
    site_config = write_apphost_config(
        iis.tmp / "My Site" / "applicationhost.config")
    env = {"IIS_BIN": str(iis.tmp / "nowhere"), "IISWSGI_FAKE_APPHOST": ""}
    result = iis.run("enable", express, "/apphostconfig:" + site_config,
                     env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert iis.applications(site_config) == [registered_entry()]
    assert iis.applications() == []           # the IIS one is untouched
    again = iis.run("enable", express, "/apphostconfig:" + site_config,
                    env=env)
    assert "is already registered" in again.stdout
    gone = iis.run("disable", express, "/apphostconfig:" + site_config,
                   env=env)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert iis.applications(site_config) == []


def test_first_argument_must_be_appcmd(iis):
    result = iis.run("enable", iis.tmp / "no-appcmd.exe")
    assert result.returncode != 0
    assert "no-appcmd.exe is not a file" in result.stderr
    assert "IIS Express" in result.stderr


def spaced_python(tmp_path):
    folder = tmp_path / "Program Files" / "Python 3"
    folder.mkdir(parents=True)
    python = folder / "python"
    python.symlink_to(sys.executable)
    return str(python)


def test_python_path_with_spaces(iis):
    python = spaced_python(iis.tmp)
    result = iis.run("enable", python=python)
    assert result.returncode == 0, result.stdout + result.stderr
    quoted = '"%s"' % python
    assert iis.applications() == [registered_entry(python)]
    assert iis.applications()[0]["fullPath"] == quoted
    assert "    scriptProcessor: %s|-m iiswsgi\n" % quoted in result.stdout
    assert 'scriptProcessor="&quot;%s&quot;|-m iiswsgi"' % python in (
        result.stdout)
    # The printed handler, used as it is, is what doctor finds registered.
    site = iis.tmp / "site"
    site.mkdir()
    (site / "app.py").write_text(APP)
    snippet = result.stdout[result.stdout.index("<?xml"):]
    (site / "web.config").write_text(snippet.replace(
        "myproject.wsgi.application", "app.application"))
    doctor = iis.run("doctor", site)
    assert "OK       the FastCGI application %s|-m iiswsgi is registered" % (
        quoted) in doctor.stdout
    assert "OK       the interpreter %s exists" % python in doctor.stdout
    assert doctor.returncode == 0, doctor.stdout
    gone = iis.run("disable", python=python)
    assert gone.returncode == 0 and "no longer registered" in gone.stdout
    assert iis.applications() == []


def test_single_quote_in_path_is_refused(iis):
    folder = iis.tmp / "it's"
    folder.mkdir()
    (folder / "python").symlink_to(sys.executable)
    result = iis.run("enable", python=str(folder / "python"))
    assert result.returncode != 0
    assert "single quote" in result.stderr
    assert iis.applications() == []


def test_not_an_administrator(iis):
    result = iis.run("enable", env={"IISWSGI_FAKE_APPCMD_DENIED": "1"})
    assert result.returncode != 0
    assert "insufficient permissions" in result.stderr
    assert 'Run as administrator' in result.stderr
    result = iis.run("disable", env={"IISWSGI_FAKE_APPCMD_DENIED": "1"})
    assert result.returncode != 0
    assert 'Run as administrator' in result.stderr


def test_no_appcmd(iis):
    windir = iis.tmp / "Windows"
    result = iis.run("enable", env={"IIS_BIN": "", "WINDIR": str(windir)})
    assert result.returncode != 0
    assert "appcmd.exe not found" in result.stderr
    assert os.path.join(str(windir), "System32", "inetsrv",
                        "appcmd.exe") in result.stderr


# -- doctor -----------------------------------------------------------------

def make_site(tmp_path, handler=True, script_processor=None,
              buffer_limit="0", settings=None, app=APP, name="web.config"):
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "app.py").write_text(app)
    values = {"WSGI_HANDLER": "app.application",
              "WSGI_LOG": str(tmp_path / "logs" / "site.log")}
    values.update(settings or {})
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<configuration>"]
    if handler:
        limit = ("" if buffer_limit is None
                 else ' responseBufferLimit="%s"' % buffer_limit)
        lines += [
            "  <system.webServer>", "    <handlers>",
            '      <add name="Python FastCGI" path="*" verb="*"'
            ' modules="FastCgiModule" scriptProcessor=%s'
            ' resourceType="Unspecified" requireAccess="Script"%s />'
            % (_attr(script_processor or processor()), limit),
            "    </handlers>", "  </system.webServer>"]
    lines.append("  <appSettings>")
    for key, value in values.items():
        lines.append("    <add key=%s value=%s />" % (_attr(key),
                                                       _attr(value)))
    lines += ["  </appSettings>", "</configuration>", ""]
    (site / name).write_text("\n".join(lines))
    return site


def _attr(value):
    from xml.sax.saxutils import quoteattr
    return quoteattr(value, {'"': "&quot;"})


def lines_with(output, status):
    return [line for line in output.splitlines()
            if line.startswith(status + " ")]


def test_doctor_healthy_site(iis):
    assert iis.run("enable").returncode == 0
    site = make_site(iis.tmp, name="Web.Config")
    result = iis.run("doctor", site)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "OK       web.config: %s" % (site / "Web.Config") in out
    assert 'OK       handler "Python FastCGI": scriptProcessor="%s"' % (
        processor()) in out
    assert "OK       the FastCGI application %s is registered" % (
        processor()) in out
    assert "OK       the interpreter %s exists" % sys.executable in out
    assert 'streams responses (responseBufferLimit="0")' in out
    assert "OK       the log file %s (WSGI_LOG) is writable" % (
        iis.tmp / "logs" / "site.log") in out
    assert "OK       WSGI_HANDLER app.application loads with %s" % (
        sys.executable) in out
    assert lines_with(out, "PROBLEM") == lines_with(out, "WARNING") == []
    assert out.rstrip().endswith("0 problems, 0 warnings")


def test_doctor_current_folder_and_appcmd_option(iis):
    assert iis.run("enable").returncode == 0
    site = make_site(iis.tmp)
    result = iis.run("doctor", "--appcmd", iis.appcmd, cwd=str(site),
                     env={"IIS_BIN": ""})
    assert result.returncode == 0, result.stdout
    assert "iiswsgi doctor: %s" % site in result.stdout
    assert "is registered in applicationHost.config" in result.stdout


def test_doctor_apphostconfig_option(iis):
    site_config = write_apphost_config(iis.tmp / "express.config")
    result = iis.run("enable", iis.appcmd, "/apphostconfig:" + site_config,
                     env={"IISWSGI_FAKE_APPHOST": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    site = make_site(iis.tmp)
    result = iis.run("doctor", site, "--apphostconfig", site_config,
                     env={"IISWSGI_FAKE_APPHOST": ""})
    assert result.returncode == 0, result.stdout
    assert "is registered in applicationHost.config" in result.stdout


def test_doctor_missing_handler(iis):
    assert iis.run("enable").returncode == 0
    site = make_site(iis.tmp, handler=False)
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert ('PROBLEM  no handler with modules="FastCgiModule" in'
            " <system.webServer><handlers> of %s" % (site / "web.config")
            in result.stdout)
    assert ("scriptProcessor=\"%s\"" % processor()) in result.stdout
    # The application itself is still checked, with this Python.
    assert "OK       WSGI_HANDLER app.application loads" in result.stdout


def test_doctor_removed_handler(iis):
    site = make_site(iis.tmp)
    path = site / "web.config"
    path.write_text(path.read_text().replace(
        "    </handlers>", '      <remove name="Python FastCGI" />\n'
        "    </handlers>"))
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert 'PROBLEM  no handler with modules="FastCgiModule"' in result.stdout


def test_doctor_reads_settings_as_the_gateway_does(iis):
    site = make_site(iis.tmp)
    path = site / "web.config"
    # A key removed in another case is gone for the gateway too.
    path.write_text(path.read_text().replace(
        "  </appSettings>", '    <remove key="wsgi_handler" />\n'
        "  </appSettings>"))
    result = iis.run("doctor", site)
    assert "WSGI_HANDLER is not set" in result.stdout + result.stderr
    # An <add> without a key stops the gateway: doctor says so.
    path.write_text(path.read_text().replace(
        '<remove key="wsgi_handler" />', '<add value="orphan" />'))
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert "PROBLEM  %s: an <appSettings><add> has no key attribute" % path \
        in result.stdout


def test_doctor_unregistered_script_processor(iis):
    site = make_site(iis.tmp)
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert ('PROBLEM  handler "Python FastCGI"\'s scriptProcessor does not'
            " match any registered FastCGI application" in result.stdout)
    assert ("fix: register it, as an administrator: `%s -m iiswsgi.cli"
            " enable`" % quote_path(sys.executable)) in result.stdout
    assert ("              or set scriptProcessor to a registered"
            " fullPath|arguments exactly (none is registered)"
            in result.stdout)


def test_doctor_unregistered_other_arguments(tmp_path):
    other = {"fullPath": "C:\\PHP\\php-cgi.exe", "arguments": ""}
    iis = IIS(tmp_path, fastcgi=[other])
    arguments = "-m iiswsgi.cli serve production.ini"
    site = make_site(tmp_path, script_processor=processor().replace(
        "-m iiswsgi", arguments))
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert ("                  %%windir%%\\system32\\inetsrv\\appcmd set"
            " config /section:system.webServer/fastCgi \"/+[fullPath='%s',"
            "arguments='%s',signalBeforeTerminateSeconds='30']\""
            " /commit:apphost\n" % (quote_path(sys.executable), arguments)
            in result.stdout)
    assert "exactly (C:\\PHP\\php-cgi.exe|)" in result.stdout


def test_doctor_warns_without_shutdown_signal(tmp_path):
    entry = {"fullPath": quote_path(sys.executable),
             "arguments": "-m iiswsgi"}
    iis = IIS(tmp_path, fastcgi=[entry])
    site = make_site(tmp_path)
    result = iis.run("doctor", site)
    assert result.returncode == 0, result.stdout
    assert ("WARNING  the FastCGI application %s has no"
            " signalBeforeTerminateSeconds" % processor()) in result.stdout
    assert ("/[fullPath='%s',arguments='-m iiswsgi']"
            ".signalBeforeTerminateSeconds:30" % quote_path(sys.executable)
            in result.stdout)


def test_doctor_quotes_must_match(tmp_path):
    python = spaced_python(tmp_path)
    iis = IIS(tmp_path, fastcgi=[registered_entry(python)])
    site = make_site(tmp_path, script_processor="%s|-m iiswsgi" % python)
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert "does not match any registered FastCGI application" in (
        result.stdout)
    # The suggestion is a valid XML attribute, quotes as &quot;.
    suggested = ('scriptProcessor="&quot;%s&quot;|-m iiswsgi"' % python)
    assert "quotes included: use %s" % suggested in result.stdout
    element = safexml.parse("<add %s />" % suggested)
    assert element.get("scriptProcessor") == '"%s"|-m iiswsgi' % python


def test_doctor_missing_interpreter(iis):
    missing = str(iis.tmp / "Python99" / "python.exe")
    site = make_site(iis.tmp, script_processor=missing + "|-m iiswsgi")
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert ('PROBLEM  the interpreter %s in handler "Python FastCGI"\'s'
            " scriptProcessor does not exist" % missing) in result.stdout
    # The application is then loaded with the Python doctor runs on.
    assert "OK       WSGI_HANDLER app.application loads with %s" % (
        sys.executable) in result.stdout


def test_doctor_bad_wsgi_handler_shows_the_traceback(iis):
    assert iis.run("enable").returncode == 0
    site = make_site(iis.tmp, settings={"WSGI_HANDLER": "broken.application"})
    (site / "broken.py").write_text(
        "import os\n\ndef helper():\n"
        "    raise RuntimeError('broken on purpose')\n\nhelper()\n")
    result = iis.run("doctor", site)
    assert result.returncode == 1
    out = result.stdout
    assert "PROBLEM  WSGI_HANDLER broken.application does not load with %s:" \
        % sys.executable in out
    assert "         | Traceback (most recent call last):" in out
    assert '         |   File "%s", line 4, in helper' % (
        site / "broken.py") in out
    assert "         | RuntimeError: broken on purpose" in out
    # Only the application's frames, and a fix that names the place.
    traceback_lines = [line for line in out.splitlines()
                       if line.startswith("         | ")]
    assert not [line for line in traceback_lines
                if os.path.join(ROOT, "iiswsgi") in line or "<frozen" in line]
    assert ("fix: the application raised it at %s, line 4 (the last line of"
            " the traceback above): correct it there" % (site / "broken.py")
            in out)


def test_doctor_wsgi_handler_not_set(iis):
    assert iis.run("enable").returncode == 0
    site = make_site(iis.tmp, settings={"WSGI_HANDLER": ""})
    result = iis.run("doctor", site, env={"WSGI_HANDLER": ""})
    assert result.returncode == 1
    assert "PROBLEM  WSGI_HANDLER is not set in appSettings" in result.stdout


def test_doctor_uses_the_registered_environment(tmp_path):
    entry = dict(registered_entry(),
                 environmentVariables={"SITE_GREETING": "hello"})
    iis = IIS(tmp_path, fastcgi=[entry])
    site = make_site(tmp_path, app="import os\nos.environ['SITE_GREETING']\n"
                                   + APP)
    result = iis.run("doctor", site)
    assert result.returncode == 0, result.stdout


def test_doctor_starts_no_debugger_or_telemetry(iis):
    # The running site may be listening for a debugger on that address;
    # doctor's load must not try to listen there too.
    import socket
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        assert iis.run("enable").returncode == 0
        site = make_site(iis.tmp, settings={
            "WSGI_PTVSD_SECRET": "s3cret",
            "WSGI_PTVSD_ADDRESS": "127.0.0.1:%d" % busy.getsockname()[1],
            "APPINSIGHTS_INSTRUMENTATIONKEY": "00000000-0000-0000-0000-"
                                              "000000000000"})
        result = iis.run("doctor", site)
    finally:
        busy.close()
    assert result.returncode == 0, result.stdout
    assert "OK       WSGI_HANDLER app.application loads" in result.stdout


def test_doctor_log_not_writable(iis):
    assert iis.run("enable").returncode == 0
    blocker = iis.tmp / "not-a-folder"
    blocker.write_text("a file where the log's folder should be")
    log = blocker / "site.log"
    site = make_site(iis.tmp, settings={"WSGI_LOG": str(log)})
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert ("PROBLEM  the log file %s (WSGI_LOG) is not writable: %s is a"
            " file, not a folder" % (log, blocker)) in result.stdout
    assert "IIS AppPool" in result.stdout


def test_doctor_default_log(iis):
    assert iis.run("enable").returncode == 0
    site = make_site(iis.tmp)
    path = site / "web.config"
    path.write_text("\n".join(line for line in path.read_text().splitlines()
                              if "WSGI_LOG" not in line))
    home = iis.tmp / "IISExpress"
    result = iis.run("doctor", site, env={"IIS_USER_HOME": str(home),
                                          "IISEXPRESS_SITENAME": ""})
    assert result.returncode == 0, result.stdout
    assert "OK       the log goes to %s (no WSGI_LOG" % (
        home / "Logs" / "iiswsgi.log") in result.stdout
    assert not home.exists()
    # No IIS Express folder: no log at all (never a shared temp folder).
    result = iis.run("doctor", site, env={"TEMP": str(iis.tmp),
                                          "IIS_USER_HOME": ""})
    assert result.returncode == 0, result.stdout
    assert "WARNING  WSGI_LOG is not set: under IIS the gateway's lines" in (
        result.stdout)
    assert 'fix: set WSGI_LOG in appSettings' in result.stdout


def test_doctor_response_buffer_limit_missing(iis):
    assert iis.run("enable").returncode == 0
    site = make_site(iis.tmp, buffer_limit=None)
    result = iis.run("doctor", site)
    assert result.returncode == 0, result.stdout     # a warning only
    assert ('WARNING  handler "Python FastCGI": responseBufferLimit is not'
            " set (IIS's default is 4194304 bytes)") in result.stdout
    assert 'streaming responses need responseBufferLimit="0"' in result.stdout
    assert result.stdout.rstrip().endswith("0 problems, 1 warning")
    other = make_site(iis.tmp, buffer_limit="4194304")
    result = iis.run("doctor", other)
    assert 'responseBufferLimit is "4194304"' in result.stdout


def test_doctor_venv_redirector(tmp_path):
    # A stand-in for a Windows venv: Scripts\python.exe starts the base
    # interpreter, as the 3.7.2+ redirector does, with pyvenv.cfg above it.
    home = tmp_path / "Python313"
    home.mkdir()
    base = home / "python.exe"
    base.symlink_to(sys.executable)
    venv = tmp_path / "venv"
    (venv / "Scripts").mkdir(parents=True)
    (venv / "Lib" / "site-packages").mkdir(parents=True)
    (venv / "Lib" / "site-packages" / "iiswsgi").symlink_to(
        os.path.join(ROOT, "iiswsgi"))
    # and the dependency iiswsgi needs to run in it
    (venv / "Lib" / "site-packages" / "defusedxml").symlink_to(
        os.path.dirname(defusedxml.__file__))
    python = venv / "Scripts" / "python.exe"
    python.write_text('#!/bin/sh\nexec %s "$@"\n' % base)
    python.chmod(0o755)
    (venv / "pyvenv.cfg").write_text(
        "home = %s\ninclude-system-site-packages = false\n"
        "version = 3.13.1\n" % home)
    iis = IIS(tmp_path, fastcgi=[registered_entry(str(python))])
    site = make_site(tmp_path, script_processor=processor(str(python)))
    result = iis.run("doctor", site)
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert ("WARNING  %s is a virtual environment's python.exe (%s), which"
            " since Python 3.7.2 is a redirector: it starts the base"
            " interpreter %s as a second process" % (
                python, venv / "pyvenv.cfg", base)) in out
    assert "named by `home` in pyvenv.cfg (%s)" % base in out
    site_packages = os.path.join(str(venv), "Lib", "site-packages")
    command = "%s -m iiswsgi.cli enable --python %s --env PYTHONPATH=%s" % (
        python, base, site_packages)
    assert "\n                  %s\n" % command in out
    assert "Or keep the redirector knowingly." in out
    assert "OK       WSGI_HANDLER app.application loads with %s" % python in (
        out)

    # The fix it gives, done: the base interpreter is registered with the
    # environment's packages on PYTHONPATH.
    fixed = iis.run(*command.split()[3:], python=str(python))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "    environment: PYTHONPATH=%s\n" % site_packages in fixed.stdout
    entry = [e for e in iis.applications() if e["fullPath"] == str(base)]
    assert entry == [registered_entry(str(base))]
    root = safexml.parse_file(iis.config)
    variables = root.findall("system.webServer/fastCgi/application/"
                             "environmentVariables/environmentVariable")
    assert [v.attrib for v in variables] == [
        {"name": "PYTHONPATH", "value": site_packages}]
    # doctor loads the application as IIS would start it: with that
    # PYTHONPATH (in place of the one doctor runs with).
    site = make_site(tmp_path, script_processor=processor(str(base)))
    result = iis.run("doctor", site)
    assert result.returncode == 0, result.stdout
    assert lines_with(result.stdout, "WARNING") == []
    assert "OK       WSGI_HANDLER app.application loads with %s" % base in (
        result.stdout)


def test_enable_sets_environment_on_an_existing_registration(iis):
    assert iis.run("enable").returncode == 0
    result = iis.run("enable", "--env", "PYTHONPATH=C:\\app", "--env",
                     "DEBUG=1")
    assert result.returncode == 0, result.stderr
    assert "its environment variables are now set" in result.stdout
    assert "    environment: PYTHONPATH=C:\\app\n" in result.stdout
    result = iis.run("enable", "--env", "PYTHONPATH=D:\\other")
    assert "its environment variables are now set" in result.stdout
    root = safexml.parse_file(iis.config)
    variables = root.findall("system.webServer/fastCgi/application/"
                             "environmentVariables/environmentVariable")
    assert sorted((v.get("name"), v.get("value")) for v in variables) == [
        ("DEBUG", "1"), ("PYTHONPATH", "D:\\other")]
    again = iis.run("enable", "--env", "DEBUG=1")
    assert "nothing to do" in again.stdout
    bad = iis.run("enable", "--env", "NOVALUE")
    assert bad.returncode == 2 and "give NAME=VALUE" in bad.stderr


def test_enable_another_python_must_exist(iis):
    missing = iis.tmp / "Python313" / "python.exe"
    result = iis.run("enable", "--python", missing)
    assert result.returncode == 1
    assert "%s: no such interpreter" % missing in result.stderr
    assert iis.applications() == []


def test_doctor_without_appcmd_skips_that_check(iis):
    site = make_site(iis.tmp)
    result = iis.run("doctor", site, env={"IIS_BIN": ""})
    assert result.returncode == 0, result.stdout
    assert ("SKIPPED  cannot check that the FastCGI application %s is"
            " registered: appcmd.exe not found" % processor()) in result.stdout


def test_doctor_named_appcmd_missing_is_a_problem(iis):
    site = make_site(iis.tmp)
    result = iis.run("doctor", site, "--appcmd", iis.tmp / "nope.exe")
    assert result.returncode == 1
    assert "PROBLEM  cannot check that the FastCGI application" in (
        result.stdout)


def test_doctor_not_an_administrator(iis):
    site = make_site(iis.tmp)
    result = iis.run("doctor", site, env={"IISWSGI_FAKE_APPCMD_DENIED": "1"})
    assert "SKIPPED  cannot check that the FastCGI application" in (
        result.stdout)
    assert "appcmd needs administrator rights" in result.stdout
    assert 'Run as administrator' in result.stdout


def test_doctor_no_web_config(iis):
    site = iis.tmp / "empty"
    site.mkdir()
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert "PROBLEM  no web.config in %s" % site in result.stdout
    assert 'modules="FastCgiModule"' in result.stdout


def test_doctor_bad_web_config(iis):
    site = iis.tmp / "site"
    site.mkdir()
    (site / "web.config").write_text("<configuration>\n<appSettings>\n"
                                     "</configuration>\n")
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert "is not well-formed XML: line 3" in result.stdout


@pytest.mark.parametrize("arguments", [
    "-m iiswsgi.cli serve %s",
    # the README's Paste style, run by paster
    "serve -s egg:iiswsgi#iis %s"])
def test_doctor_paste_style_skips_wsgi_handler(iis, arguments):
    ini = iis.tmp / "production.ini"
    site = make_site(iis.tmp, script_processor=processor().replace(
        "-m iiswsgi", arguments % ini), settings={"WSGI_HANDLER": ""})
    result = iis.run("doctor", site)
    assert "SKIPPED  WSGI_HANDLER: the handler serves an ini file" in (
        result.stdout)
    assert "WSGI_HANDLER is not set" not in result.stdout
    assert "PROBLEM  the ini file %s that the handler serves does not" \
        " exist" % ini in result.stdout
    ini.write_text("[server:main]\nuse = egg:iiswsgi#iis\n")
    result = iis.run("doctor", site)
    assert "OK       the ini file %s exists" % ini in result.stdout


def test_snippet_matches_enable(iis):
    # What doctor suggests for a missing handler is what enable prints.
    assert handler_snippet(processor()) in iis.run("enable").stdout


# -- doctor's mistakes, each checked --------------------------------------------

def test_doctor_wfastcgi_script_must_exist(iis):
    script = iis.tmp / "Lib" / "site-packages" / "wfastcgi.py"
    site = make_site(iis.tmp, script_processor="%s|%s" % (
        quote_path(sys.executable), script))
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert ('PROBLEM  handler "Python FastCGI": scriptProcessor="%s|%s" runs'
            " the script %s, which does not exist" % (
                quote_path(sys.executable), script, script)) in result.stdout
    assert 'OK       handler "Python FastCGI": scriptProcessor' not in (
        result.stdout)
    script.parent.mkdir(parents=True)
    script.write_text("# wfastcgi stand-in\n")
    result = iis.run("doctor", site)
    assert 'OK       handler "Python FastCGI": scriptProcessor="%s|%s"' % (
        quote_path(sys.executable), script) in result.stdout


def test_doctor_python_path_entries_must_exist(iis):
    there = iis.tmp / "lib"
    there.mkdir()
    missing = iis.tmp / "no-such-folder"
    site = make_site(iis.tmp, settings={
        "PYTHONPATH": "%s;%s;relative-missing" % (there, missing)})
    result = iis.run("doctor", site)
    out = result.stdout
    assert "OK       PYTHONPATH entry %s exists" % there in out
    assert ("WARNING  PYTHONPATH entry %s (appSettings) does not exist"
            % missing) in out
    assert ("WARNING  PYTHONPATH entry relative-missing (appSettings) does"
            " not exist (relative to %s)" % site) in out


def _snapshot(folder):
    found = {}
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(top, name)
            info = os.lstat(path)
            content = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as stream:
                    content = stream.read()
            found[path] = (info.st_mode, info.st_mtime_ns, content)
    found[str(folder)] = os.stat(folder).st_mtime_ns
    return found


def test_doctor_changes_nothing_in_the_site(iis):
    assert iis.run("enable").returncode == 0
    site = make_site(iis.tmp, settings={
        "WSGI_LOG": str(iis.tmp / "site" / "logs" / "new" / "site.log")})
    (site / "helper.py").write_text("VALUE = 1\n")
    (site / "app.py").write_text("import helper\nprint('imported')\n" + APP)
    before = _snapshot(site)
    outside = iis.tmp / "logs"
    result = iis.run("doctor", site)
    assert result.returncode == 0, result.stdout
    assert "OK       the log file %s (WSGI_LOG) is writable" % (
        site / "logs" / "new" / "site.log") in result.stdout
    assert _snapshot(site) == before
    assert not outside.exists()


def test_doctor_typo_in_the_module_part_is_an_import_error(iis):
    site = make_site(iis.tmp, settings={
        "WSGI_HANDLER": "mypkg.wsgii.application"})
    (site / "mypkg").mkdir()
    (site / "mypkg" / "__init__.py").write_text("")
    (site / "mypkg" / "wsgi.py").write_text(APP)
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert ("WSGI_HANDLER mypkg.wsgii.application does not load with %s: the"
            " module mypkg.wsgii cannot be imported (the package mypkg has no"
            " module wsgii)" % sys.executable) in result.stdout
    assert "fix: check the module part of WSGI_HANDLER for a typo" in (
        result.stdout)
    assert "has no attribute" not in result.stdout


def test_doctor_missing_attribute_lists_the_names(iis):
    site = make_site(iis.tmp, settings={"WSGI_HANDLER": "app.aplication"})
    result = iis.run("doctor", site)
    assert result.returncode == 1
    assert "the module app has no aplication" in result.stdout
    assert ("fix: name the application after the module in WSGI_HANDLER:"
            " app.application") in result.stdout


def test_doctor_missing_dependency_fix_and_only_the_apps_frames(iis):
    site = make_site(iis.tmp, settings={
        "WSGI_HANDLER": "needs.application",
        "DB_PASSWORD": "hunter2-Zq9-secret"})
    (site / "needs.py").write_text(
        "import os\nprint('connecting with', os.environ['DB_PASSWORD'])\n"
        "import no_such_dependency_xyz\n")
    result = iis.run("doctor", site)
    out = result.stdout
    assert result.returncode == 1
    assert ("ModuleNotFoundError: No module named 'no_such_dependency_xyz'"
            in out)
    assert ("fix: install no_such_dependency_xyz for the site's interpreter"
            " (python -m pip install no_such_dependency_xyz" in out)
    assert '         |   File "%s", line 3, in <module>' % (
        site / "needs.py") in out
    assert "iiswsgi%shosting" % os.sep not in out
    assert "hunter2-Zq9-secret" not in out
    assert "connecting with [redacted]" in out


def _windows_venv(tmp_path, copies=False, embeddable=False):
    home = tmp_path / "Python313"
    home.mkdir()
    base = home / "python.exe"
    base.symlink_to(sys.executable)
    if embeddable:
        (home / "python313._pth").write_text("python313.zip\n.\n")
    venv = tmp_path / "venv"
    (venv / "Scripts").mkdir(parents=True)
    site_packages = venv / "Lib" / "site-packages"
    site_packages.mkdir(parents=True)
    (site_packages / "iiswsgi").symlink_to(os.path.join(ROOT, "iiswsgi"))
    (site_packages / "defusedxml").symlink_to(
        os.path.dirname(defusedxml.__file__))
    python = venv / "Scripts" / "python.exe"
    python.write_text('#!/bin/sh\nexec %s "$@"\n' % base)
    python.chmod(0o755)
    if copies:
        (venv / "Scripts" / "python313.dll").write_bytes(b"MZ")
    (venv / "pyvenv.cfg").write_text(
        "home = %s\ninclude-system-site-packages = false\n"
        "version = 3.13.1\n%s" % (home, "virtualenv = 20.26.0\n"
                                  if copies else ""))
    return python, base, site_packages


def test_doctor_virtualenv_copies_is_one_process(tmp_path):
    python, base, _ = _windows_venv(tmp_path, copies=True)
    iis = IIS(tmp_path, fastcgi=[registered_entry(str(python))])
    site = make_site(tmp_path, script_processor=processor(str(python)))
    result = iis.run("doctor", site)
    assert result.returncode == 0, result.stdout
    assert lines_with(result.stdout, "WARNING") == []
    assert ("OK       %s is a virtual environment's full copy of the"
            " interpreter (python313.dll beside it), not a redirector"
            % python) in result.stdout


def test_doctor_redirector_to_an_embeddable_base(tmp_path):
    python, base, site_packages = _windows_venv(tmp_path, embeddable=True)
    iis = IIS(tmp_path, fastcgi=[registered_entry(str(python))])
    site = make_site(tmp_path, script_processor=processor(str(python)))
    result = iis.run("doctor", site)
    out = result.stdout
    assert result.returncode == 0, out
    assert "That base is an embeddable distribution: its python313._pth" \
        " makes it ignore PYTHONPATH" in out
    assert "--env PYTHONPATH" not in out
    assert "\n                  %s\n" % site_packages in out
    assert "to %s" % (base.parent / "python313._pth") in out
