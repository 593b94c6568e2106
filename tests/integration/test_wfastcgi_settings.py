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
