"""A real browser on a site served by ``iiswsgi emulate``: the sample
example, deployed through the Web Deploy flow of test_msdeploy_flow.py,
loaded by headless Chromium; the DOM it renders must be the sample's
environ page, with what IIS would have given the application.

Chromium is the Debian package ``chromium`` (scripts/setup installs it).
Without it the test is skipped, but fails in CI (tests/conftest.py's
``require``).
"""

import ast
import os
import re
import shutil
import signal
import subprocess
from html.parser import HTMLParser

import pytest

from tests.conftest import require
from tests.support.emulate import EmulateProcess
from tests.support.webdeploy import deploy

pytestmark = pytest.mark.skipif(
    os.name == "nt", reason="iiswsgi emulate starts FastCGI processes on"
    " POSIX systems only")

NAME = "WSGISampleIISApp"
CHROMIUM_TIMEOUT = 40


def find_chromium():
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK)
        else None)
    require(path, "no chromium: install the Debian package chromium"
            " (scripts/setup does)")
    return path


def dump_dom(chromium, url, profile):
    """The DOM headless Chromium renders for ``url``, as HTML text."""
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-quic", "--no-first-run",
               "--disable-background-networking",
               "--disable-component-update", "--disable-sync",
               "--no-proxy-server", "--user-data-dir=%s" % profile,
               "--dump-dom", url]
    # A session of its own, so that on a timeout its helper processes go
    # with it.
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, errors="replace",
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate(timeout=10)
        raise AssertionError("chromium did not finish within %ds:\n%s"
                             % (CHROMIUM_TIMEOUT, err[-3000:])) from None
    assert process.returncode == 0, "chromium failed (%d):\n%s" % (
        process.returncode, err[-3000:])
    assert out.strip(), "chromium dumped no DOM:\n%s" % err[-3000:]
    return out


class EnvironPage(HTMLParser):
    """The title, the first heading and the table rows (th: td) of the
    sample's page."""

    def __init__(self, text):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.title = ""
        self.heading = ""
        self.rows = {}
        self._in = None
        self._text = []
        self._name = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag in ("title", "h1", "th", "td"):
            self._in = tag
            self._text = []

    def handle_data(self, data):
        if self._in:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag != self._in:
            return
        text = "".join(self._text)
        self._in = None
        if tag == "title":
            self.title = text
        elif tag == "h1" and not self.heading:
            self.heading = text
        elif tag == "th":
            self._name = text
        elif tag == "td" and self._name is not None:
            self.rows[self._name] = text
            self._name = None

    def value(self, name):
        """The environ value the page shows for ``name`` (it shows their
        repr)."""
        assert name in self.rows, "%s is not on the page: %s" % (
            name, sorted(self.rows))
        return ast.literal_eval(self.rows[name])


def test_chromium_renders_sample_through_emulator(tmp_path, python):
    chromium = find_chromium()
    app_dir, config, appcmd, env, command, result = deploy(
        tmp_path, python, "sample.msdeploy", NAME, [])
    assert result.returncode == 0, result.stdout

    path_info = "/emulated/page"
    query = "from=chromium&token=e2e%20check"
    with EmulateProcess(app_dir, config, env, cwd=str(tmp_path)) as emulate:
        app_url = emulate.urls[0]
        assert app_url.endswith("/%s/" % NAME), emulate.output()
        port = app_url.split(":")[2].split("/")[0]
        url = app_url + path_info.lstrip("/") + "?" + query
        profile = tmp_path / "chromium-profile"
        profile.mkdir()
        dom = dump_dom(chromium, url, profile)
        # The emulator logged the browser's request, answered 200.
        emulate.wait_for(re.compile(re.escape('"GET /%s%s?%s" 200 ' % (
            NAME, path_info, query))), 5)
        _, status = emulate.interrupt(timeout=15)
        assert status == 0, emulate.output()

    page = EnvironPage(dom)
    assert page.title == "iiswsgi test application", dom
    assert page.heading == "iiswsgi test application", dom
    # What IIS gives an application, as the emulator sent it and the
    # gateway turned it into the WSGI environ.
    assert page.value("SERVER_SOFTWARE") == "Microsoft-IIS/10.0"
    assert page.value("APPL_MD_PATH") == "/LM/W3SVC/1/ROOT/" + NAME
    assert page.value("INSTANCE_ID") == "1"
    assert page.value("APPL_PHYSICAL_PATH") == str(app_dir) + os.sep
    assert page.value("SCRIPT_NAME") == "/" + NAME
    assert page.value("PATH_INFO") == path_info
    assert page.value("URL") == "/" + NAME + path_info
    assert page.value("QUERY_STRING") == query
    assert page.value("REQUEST_URI") == "/%s%s?%s" % (NAME, path_info, query)
    assert page.value("REQUEST_METHOD") == "GET"
    assert page.value("SERVER_PORT") == port
    assert page.value("HTTP_HOST") == "127.0.0.1:" + port
    # It was this browser that asked.
    assert "HeadlessChrome/" in page.value("HTTP_USER_AGENT")
