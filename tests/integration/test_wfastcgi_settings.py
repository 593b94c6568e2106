"""wfastcgi's settings, through `python -m iiswsgi` started the IIS way."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.support import fcgi
from tests.support.iis import Gateway, iis_params, wait_for
from tests.support.wfastcgi import (Collector, as_json, hiding,
                                    telemetry_env, write_web_config)


def test_every_setting_is_exported_with_clear_and_remove(site):
    gw = site(SETTING_KEPT="1", SETTING_GONE="2",
              WSGI_HANDLER="sample_apps.settings_app",
              DJANGO_SETTINGS_MODULE="mysite.settings")
    # write_web_config writes adds only; add a <remove> and a <location>.
    path = site.folder / "web.config"
    text = path.read_text().replace(
        "  </appSettings>",
        '    <remove key="setting_gone" />\n  </appSettings>\n'
        '  <location path="x"><appSettings>'
        '<add key="SETTING_LOCATION" value="no" /></appSettings></location>')
    path.write_text(text)
    data = as_json(gw.client.request(site.params()))
    assert data["SETTING_KEPT"] == "1"
    assert "SETTING_GONE" not in data
    assert "SETTING_LOCATION" not in data
    assert data["DJANGO_SETTINGS_MODULE"] == "mysite.settings"
    assert data["cwd"] == str(site.folder)
    assert data["sys.path"][0] == str(site.folder)


def test_script_name_setting_mounts_the_application(site):
    gw = site(WSGI_HANDLER="sample_apps.settings_app", SCRIPT_NAME="/site/app")
    data = as_json(gw.client.request(site.params("/site/app/page")))
    assert (data["SCRIPT_NAME"], data["PATH_INFO"]) == ("/site/app", "/page")
    data = as_json(gw.client.request(site.params("/site/app")))
    assert (data["SCRIPT_NAME"], data["PATH_INFO"]) == ("/site/app", "")


def test_malformed_web_config(site):
    gw = site(WSGI_HANDLER="sample_apps.router")
    path = site.folder / "web.config"
    path.write_text(path.read_text().replace("</appSettings>", "</appSetting>"))
    for _ in range(2):
        response = gw.client.request(site.params())
        assert response.status == 500
        assert b"web.config is not well-formed XML: line" in response.body
    assert gw.process.poll() is None
    assert gw.log_text().count("could not load the WSGI application") == 1


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_remote_debugging_with_debugpy(site):
    port = free_port()
    gw = site(WSGI_HANDLER="sample_apps.router",
              WSGI_PTVSD_SECRET="s3cret-value",
              WSGI_PTVSD_ADDRESS="127.0.0.1:%d" % port)
    assert gw.client.request(site.params()).status == 200
    # The debugger's relay listens; a debugger could attach there (after
    # proving the secret: tests/integration/test_debugger.py).
    with socket.create_connection(("127.0.0.1", port), timeout=20):
        pass
    log = gw.log_text()
    assert "the debugger listens on 127.0.0.1:%d" % port in log
    assert "s3cret-value" not in log


def test_remote_debugging_without_a_debugger_installed(site):
    gw = site(args=hiding("debugpy", "ptvsd"),
              WSGI_HANDLER="sample_apps.router", WSGI_PTVSD_SECRET="x")
    assert gw.client.request(site.params()).status == 200
    assert gw.client.request(site.params()).status == 200
    assert gw.log_text().count("neither debugpy nor ptvsd is installed") == 1


def test_telemetry_without_a_package_installed(site):
    gw = site(args=hiding("azure.monitor.opentelemetry", "applicationinsights"),
              WSGI_HANDLER="sample_apps.router",
              APPINSIGHTS_INSTRUMENTATIONKEY="00000000-0000-0000-0000-000000000000")
    assert gw.client.request(site.params()).status == 200
    assert gw.log_text().count("no telemetry package is installed") == 1


@pytest.mark.parametrize("package", ["opentelemetry", "applicationinsights"])
def test_requests_and_errors_are_traced(site, collector, package):
    args = (("-m", "iiswsgi") if package == "opentelemetry"
            else hiding("azure.monitor.opentelemetry"))
    gw = site(args=args, env=telemetry_env(collector),
              WSGI_HANDLER="sample_apps.router",
              APPINSIGHTS_INSTRUMENTATIONKEY="00000000-0000-0000-0000-000000000000")
    assert gw.client.request(site.params("/traced/page")).status == 200
    assert gw.client.request(site.params("/boom")).status == 500
    gw.close_pipe()
    assert gw.wait(60) == 0
    track = b"".join(body for path, body in Collector.received
                     if "track" in path)
    assert b"/traced/page" in track, Collector.received
    assert b"/boom" in track
    assert b"boom on purpose" in track or b"500" in track


def test_django_project_from_startproject(tmp_path):
    django_admin = os.path.join(os.path.dirname(sys.executable),
                                "django-admin")
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run([django_admin, "startproject", "mysite", str(project)],
                   check=True, timeout=60)
    write_web_config(project, PYTHONPATH=str(project),
                     WSGI_HANDLER="django.core.wsgi.get_wsgi_application()",
                     DJANGO_SETTINGS_MODULE="mysite.settings")
    gateway = Gateway(["-m", "iiswsgi"], cwd=str(tmp_path),
                      log=tmp_path / "iiswsgi.log")
    try:
        params = iis_params("/myapp/admin/login/", app_path="/myapp",
                            physical_path=str(project) + os.sep)
        response = gateway.client.request(params)
        assert response.status == 200, response.body[:2000]
        page = response.text
        assert "Django administration" in page
        assert 'action="/myapp/admin/login/"' in page
        assert 'name="csrfmiddlewaretoken"' in page
        missing = gateway.client.request(iis_params(
            "/myapp/no/such/page", app_path="/myapp",
            physical_path=str(project) + os.sep))
        assert missing.status == 404
    finally:
        gateway.stop()


# -- the log ------------------------------------------------------------------

DJANGO_SETTINGS = '''\
from django_site.settings import *  # noqa: F401,F403
ROOT_URLCONF = "ops_urls"
LOGGING_CONFIG = "logging.config.dictConfig"
DEBUG_PROPAGATE_EXCEPTIONS = %(propagate)r
# Django's basic example: a console handler, the root logger at WARNING.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": %(disable)r,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
'''

DJANGO_URLS = '''\
from django.http import HttpResponse
from django.urls import path


def printer(request):
    print("printed by the Django view")
    return HttpResponse("printed")


def boom(request):
    raise RuntimeError("the Django view failed on purpose")


urlpatterns = [path("print", printer), path("boom", boom)]
'''


@pytest.mark.parametrize("disable, propagate", [(False, False),
                                                (True, True)])
def test_django_logging_config_keeps_the_log(site, disable, propagate):
    (site.folder / "ops_settings.py").write_text(
        DJANGO_SETTINGS % {"disable": disable, "propagate": propagate})
    (site.folder / "ops_urls.py").write_text(DJANGO_URLS)
    gw = site(WSGI_HANDLER="django.core.wsgi.get_wsgi_application()",
              DJANGO_SETTINGS_MODULE="ops_settings")
    assert gw.client.request(site.params("/print")).status == 200
    assert gw.client.request(site.params("/boom")).status == 500
    assert gw.client.request(site.params("/print")).status == 200
    gw.close_pipe()
    assert gw.wait(60) == 0
    log = gw.log_text()
    assert "INFO iiswsgi.hosting.launch: iiswsgi starting" in log
    assert "loaded the WSGI application" in log
    assert log.count("printed by the Django view") == 2
    assert "RuntimeError: the Django view failed on purpose" in log
    assert 'File "%s"' % (site.folder / "ops_urls.py") in log
    if propagate:
        assert "the application failed on GET /boom" in log
    else:
        assert "Internal Server Error: /boom" in log
    assert "exiting after 3 requests" in log


def test_a_wsgi_log_that_cannot_be_opened_keeps_the_log(site, tmp_path):
    (tmp_path / "afile").write_text("a file where a folder should be")
    bad = tmp_path / "afile" / "site.log"
    gw = site(WSGI_HANDLER="no_such_module.application", WSGI_LOG=str(bad))
    response = gw.client.request(site.params())
    assert response.status == 500
    good = str(tmp_path / "iiswsgi.log")
    page = response.body.decode()
    assert "The traceback is in the iiswsgi log, %s" % good in page
    assert str(bad) in page
    log = gw.log_text()
    assert "%s, log %s)" % (sys.executable, good) in log   # the start line
    assert "cannot write the log file %s" % bad in log
    assert "still logging to %s" % good in log
    assert "could not load the WSGI application" in log
    assert "no_such_module" in log


def test_a_crlf_in_the_url_cannot_forge_log_lines(site):
    (site.folder / "failing.py").write_text(
        "def application(environ, start_response):\n"
        "    raise ValueError('failed for ' + environ['PATH_INFO'])\n")
    gw = site(WSGI_HANDLER="failing.application")
    forged = "/x\r\n2026-01-01 00:00:00,000 1 INFO iiswsgi.forged: hello"
    response = gw.client.request(site.params(forged))
    assert response.status == 500
    gw.close_pipe()
    gw.wait(60)
    lines = gw.log_text().splitlines()
    assert not [line for line in lines if line.startswith("2026-01-01")]
    assert [line for line in lines if "the application failed on GET"
            " /x\\r\\n2026-01-01 00:00:00,000 1 INFO iiswsgi.forged: hello"
            in line]
    assert not [line for line in lines if "iiswsgi.forged" in line
                and not ("\\r\\n" in line or line.startswith("ValueError"))]
