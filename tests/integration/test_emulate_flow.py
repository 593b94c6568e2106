"""The Pyramid example from package to pages: bdist_msdeploy, the Web
Deploy flow of test_msdeploy_flow.py into a temporary site of a (fake) IIS
(iiswsgi_install -e writes web.config and registers the FastCGI
application in the applicationHost.config), then ``iiswsgi emulate`` over
that site and that applicationHost.config, answering real HTTP requests
through real FastCGI processes, and stopped with SIGINT as Ctrl-C would.
"""

import os
import re

import pytest

from tests.support.emulate import EmulateProcess, fetch, process_gone
from tests.support.webdeploy import deploy

pytestmark = pytest.mark.skipif(
    os.name == "nt", reason="iiswsgi emulate starts FastCGI processes on"
    " POSIX systems only")

NAME = "PyramidIISApp"


def test_emulate_deployed_pyramid_site(tmp_path, python):
    app_dir, config, appcmd, env, command, result = deploy(
        tmp_path, python, "pyramid.msdeploy", NAME, ["-e"])
    assert result.returncode == 0, result.stdout
    assert "<fastCgi>" in open(config, encoding="utf-8").read()
    assert str(app_dir / ".venv" / "bin" / "python") in open(
        config, encoding="utf-8").read()

    # env has TEST_SITES, which the applicationHost.config's physical
    # paths use, as IIS expands %VARIABLES% there.
    with EmulateProcess(app_dir, config, env, cwd=str(tmp_path)) as emulate:
        assert os.path.samefile(emulate.site, app_dir)
        app_url = emulate.urls[0]
        assert app_url.startswith("http://127.0.0.1:")
        assert app_url.endswith("/%s/" % NAME), emulate.output()
        root_url = app_url[:-len(NAME) - 1]
        # The site's other application (its root, in sites/Other).
        assert emulate.urls[1:] == [root_url], emulate.output()

        status, headers, body = fetch(app_url)
        assert status == 200, body
        assert headers["Content-Type"].startswith("text/plain")
        assert headers["Server"] == "Microsoft-IIS/10.0"
        # The greeting is Web Deploy's parameter marker (nothing replaced
        # it); the script name is the IIS application's path.
        assert body == ("__msdeploy_greeting__ from Pyramid on IIS"
                        " (script name '/%s')\n" % NAME)

        # A path the Pyramid application has no route for: its own 404,
        # through FastCGI.
        status, headers, body = fetch(app_url + "no/such/page")
        assert status == 404, body
        assert "<title>404 Not Found</title>" in body
        assert "/no/such/page" in body

        # A path under the site's root application (no web.config, no such
        # file): IIS's own 404.
        status, headers, body = fetch(root_url + "missing.txt")
        assert status == 404, body
        assert "HTTP Error 404.0 - Not Found" in body

        # Each request got its access-log line.
        emulate.wait_for(_access("GET /%s/" % NAME, 200), 5)
        emulate.wait_for(_access("GET /%s/no/such/page" % NAME, 404), 5)
        emulate.wait_for(_access("GET /missing.txt", 404), 5)

        pids = emulate.fastcgi_pids()
        assert pids, emulate.output()
        assert not any(process_gone(pid) for pid in pids), emulate.output()

        elapsed, status = emulate.interrupt(timeout=15)
        assert status == 0, emulate.output()
        assert elapsed < 8, "%.1fs to stop:\n%s" % (elapsed,
                                                    emulate.output())
        left = [pid for pid in pids if not process_gone(pid)]
        assert not left, "FastCGI processes %s outlived iiswsgi emulate:\n%s" \
            % (left, emulate.output())


def _access(request_line, status):
    """The access-log line of a request and its status."""
    return re.compile(r'"%s" %d \d+ ' % (re.escape(request_line), status))
