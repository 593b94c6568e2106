"""Every part that reads web.config reads it alike.

Each file of tests/webconfig_corpus/ is one trick of IIS's configuration
rules; the JSON next to it says what IIS makes of it.  Each is fed to every
consumer -- the gateway's appSettings loading (HostedApplication.load, in
a process of its own), doctor's reading, emulate's reading and request
handling, install_msdeploy's reading -- and all must agree with that
meaning, or raise the same error at the same file:line:column.
"""

import html
import json
import os
import re
import shutil
import subprocess
import sys
from urllib.parse import unquote

import pytest

from iiswsgi import doctor
from iiswsgi.emulator.app import Emulator
from iiswsgi.emulator.config import Application, Site, WebConfigCache
from iiswsgi.iis.webconfig import ConfigError
from iiswsgi.msdeploy import PackageError
from iiswsgi.msdeploy.register import planned_commands
from iiswsgi.msdeploy.webconfig import read_web_config as msdeploy_read
from tests.support.iis import ROOT

CORPUS = os.path.join(ROOT, "tests", "webconfig_corpus")
CASES = sorted(name[:-len(".json")] for name in os.listdir(CORPUS)
               if name.endswith(".json"))

# <fastCgi><application> attributes the corpus states -> the model's field.
FIELDS = {"maxInstances": "max_instances",
          "activityTimeout": "activity_timeout",
          "signalBeforeTerminateSeconds": "signal_before_terminate_seconds",
          "stderrMode": "stderr_mode"}

# The gateway's settings path, without importing an application: load()
# with WSGI_HANDLER's resolution stubbed; what it put in os.environ.
GATEWAY = """\
import json, os, sys
import iiswsgi.hosting.application as hosting
hosting.resolve_handler = lambda name: (lambda environ, start: [])
before = dict(os.environ)
try:
    hosting.HostedApplication().load({"APPL_PHYSICAL_PATH": sys.argv[1]})
except Exception as error:
    print(json.dumps({"error": str(error),
                      "location": getattr(error, "location", None)}))
else:
    print(json.dumps({"settings": {key: value for key, value
                                   in os.environ.items()
                                   if before.get(key) != value}}))
"""


def build_site(tmp_path, case):
    with open(os.path.join(CORPUS, case + ".json"), encoding="utf-8") as f:
        expected = json.load(f)
    root = tmp_path / "site"
    app = root
    if expected.get("parent"):
        root.mkdir()
        shutil.copy(os.path.join(CORPUS, expected["parent"]),
                    root / "web.config")
        app = root / "sub"
    app.mkdir()
    path = app / expected.get("name", "web.config")
    shutil.copy(os.path.join(CORPUS, case + ".config"), path)
    for name, source in expected.get("extra", {}).items():
        shutil.copy(os.path.join(CORPUS, source), app / name)
    return str(root), str(app), str(path), expected


def gateway(app):
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": ROOT,
           "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run([sys.executable, "-c", GATEWAY, app],
                            capture_output=True, text=True, timeout=120,
                            env=env, cwd=app)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def pairs(handlers):
    return [[handler.name, handler.script_processor] for handler in handlers]


def describe(application, expected):
    found = {"fullPath": application.full_path,
             "arguments": application.arguments,
             "environmentVariables": application.environment_variables}
    for name in expected:
        if name in FIELDS:
            found[name] = getattr(application, FIELDS[name])
    return found


def request(emulator, raw_path):
    path = unquote(raw_path)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path,
               "REQUEST_URI": raw_path, "SERVER_NAME": "localhost",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
               "HTTP_HOST": "localhost", "REMOTE_ADDR": "127.0.0.1",
               "REMOTE_PORT": "50000", "wsgi.input": None}
    answer = {}

    def start_response(status, headers):
        answer["status"] = status
        answer["headers"] = dict(headers)
    body = emulator(environ, start_response)
    try:
        data = b"".join(body)
    finally:
        body.close()
    code = int(answer["status"].split()[0])
    if code == 200:
        return "200 " + answer["headers"]["Content-Type"]
    match = re.search(r"HTTP Error (\d+\.\d+)", data.decode("utf-8"))
    return match.group(1) if match else str(code)


def emulate_answers(root, expected):
    """emulate's answers to the corpus's requests, each path's file (or
    folder) made first."""
    for raw_path in expected.get("requests", {}):
        relative = unquote(raw_path).lstrip("/")
        target = os.path.join(root, *relative.split("/"))
        if relative in expected.get("dirs", ()):
            os.makedirs(target, exist_ok=True)
        elif not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as stream:
                stream.write("content of %s\n" % relative)
    emulator = Emulator(Site("Default Web Site", 1, [Application("/", root)],
                             []), environ={})
    try:
        return {raw_path: request(emulator, raw_path)
                for raw_path in expected.get("requests", {})}
    finally:
        emulator.close()


@pytest.mark.parametrize("case", CASES)
def test_every_consumer_agrees(tmp_path, case):
    root, app, path, expected = build_site(tmp_path, case)
    if "error" in expected:
        check_same_error(root, app, path, expected["error"])
        return
    settings = expected["app_settings"]
    handlers = expected["handlers"]

    # The gateway (python -m iiswsgi) loading its appSettings.
    assert gateway(app) == {"settings": settings}

    # iiswsgi doctor.
    doctor_settings, doctor_handlers = doctor.site_configuration(path)
    assert doctor_settings == settings
    assert pairs(doctor_handlers) == handlers

    # iiswsgi emulate: what applies at the application's root (the
    # FastCGI handlers, in the order it tries them) and at other paths.
    cache = WebConfigCache()
    application = Application("/", app)
    config = cache.configuration(application, "")
    assert pairs(config.fastcgi_handlers) == handlers
    if "all_handlers" in expected:
        assert [h.name for h in config.handlers] == expected["all_handlers"]
    if "response_buffer_limit" in expected:
        assert config.handlers[0].response_buffer_limit == \
            expected["response_buffer_limit"]
    for relative, meaning in expected.get("at", {}).items():
        there = cache.configuration(application, relative)
        assert pairs(there.fastcgi_handlers) == meaning["handlers"], relative
        if "app_settings" in meaning:
            assert there.app_settings == meaning["app_settings"]
    for relative, names in expected.get("chain", {}).items():
        chained = cache.configuration(Application("/", root), relative)
        assert [h.name for h in chained.handlers] == names, relative
    assert emulate_answers(root, expected) == expected.get("requests", {})

    # install_msdeploy (and test_msdeploy): the FastCGI applications to
    # register and the handler that runs them.
    package = msdeploy_read(path)
    assert pairs(package.handlers) == handlers
    fastcgi = expected.get("fastcgi", [])
    for config_applications in (config.fastcgi_applications,
                                package.fastcgi_applications):
        assert [describe(application, wanted) for application, wanted in
                zip(config_applications, fastcgi)] == fastcgi
        assert len(config_applications) == len(fastcgi)
    for application, wanted in zip(package.fastcgi_applications, fastcgi):
        command = " ".join(planned_commands(application)[0])
        for name in FIELDS:
            if name in wanted:
                assert "%s='%s'" % (name, wanted[name]) in command
    if "handler_application" in expected:
        for source in (config, package):
            assert source.application_for(
                source.fastcgi_handlers[0] if source is config
                else source.handlers[0]).full_path == \
                expected["handler_application"]


def check_same_error(root, app, path, error):
    with pytest.raises(ConfigError) as caught:
        doctor.site_configuration(path)
    reference = caught.value
    assert reference.path == path
    assert reference.line == error["line"]
    if "column" in error:
        assert reference.column == error["column"]
    assert error["says"] in str(reference)
    message = str(reference)

    assert gateway(app) == {"error": message,
                            "location": reference.location}
    with pytest.raises(ConfigError) as caught:
        WebConfigCache().configuration(Application("/", app), "")
    assert (str(caught.value), caught.value.location) == (
        message, reference.location)
    # emulate answers 500.19 with it.
    emulator = Emulator(Site("Default Web Site", 1, [Application("/", app)],
                             []), environ={})
    try:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/",
                   "REQUEST_URI": "/", "HTTP_HOST": "localhost"}
        statuses = []
        body = emulator(environ, lambda status, headers: statuses.append(
            status))
        page = b"".join(body).decode("utf-8")
        body.close()
    finally:
        emulator.close()
    assert statuses == ["500 Internal Server Error"]
    assert "HTTP Error 500.19" in page and html.escape(message) in page
    with pytest.raises(PackageError) as caught:
        msdeploy_read(path)
    assert str(caught.value) == message
