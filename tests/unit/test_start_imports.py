"""What ``python -m iiswsgi`` imports before it answers its first request,
started as IIS starts it (a socketpair as standard input, WSGI_HANDLER
set): none of the modules that cost tens of milliseconds at every start
and that only errors, doctor or the packaging commands need.  The
application served answers with ``sorted(sys.modules)``, so what is
checked is what the process holds once its start path has run."""

import os
import site
import socket
import subprocess
import sys

import pytest

from iiswsgi.iis.variables import server_variables
from tests.support.fcgi import Client
from tests.support.iis import ROOT

pytestmark = pytest.mark.skipif(os.name == "nt", reason="socketpair stdin")

#: Not imported on the start path.  dataclasses and inspect (~50 ms with
#: their imports) still come with iiswsgi/protocol/fastcgi.py's
#: ``@dataclass`` records; add them here once those are plain classes.
NOT_AT_START = ("json", "pathlib", "tempfile", "argparse", "shutil",
                "xml.etree.ElementTree", "defusedxml", "dataclasses",
                "inspect", "html",
                "iiswsgi.doctor", "iiswsgi.cli")

APP = """
import sys
%s


def app(environ, start_response):
    body = "\\n".join(sorted(sys.modules)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


def _modules_at_first_request(tmp_path, imports=""):
    """The modules a gateway holds when it serves its first request.  It
    runs with -S and the checkout and site-packages on PYTHONPATH: an
    editable install's .pth finder imports pathlib itself, before any of
    iiswsgi runs, which would hide what iiswsgi imports."""
    app_dir = tmp_path / "site"
    app_dir.mkdir()
    (tmp_path / "modules_app.py").write_text(APP % imports)
    paths = [ROOT, str(tmp_path)] + site.getsitepackages()
    user = site.getusersitepackages()
    if isinstance(user, str) and os.path.isdir(user):
        paths.append(user)
    env = dict(os.environ, WSGI_HANDLER="modules_app.app",
               WSGI_LOG=str(tmp_path / "log"),
               PYTHONPATH=os.pathsep.join(paths))
    parent, child = socket.socketpair()
    process = subprocess.Popen([sys.executable, "-S", "-m", "iiswsgi"],
                               stdin=child, env=env, cwd=str(tmp_path),
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    child.close()
    try:
        params = server_variables("/", "/", str(app_dir), method="GET",
                                  complete=True)
        response = Client(parent).request(params)
    finally:
        parent.close()
        process.wait(30)
    assert response.status == 200, (response.status, response.body[:500],
                                     (tmp_path / "log").read_text()[-2000:])
    return set(response.body.decode().split("\n"))


def test_the_start_path_does_not_import_costly_modules(tmp_path):
    modules = _modules_at_first_request(tmp_path)
    # The gateway did start and serve: its own modules are there.
    assert {"iiswsgi.hosting.launch", "iiswsgi.gateway.server",
            "iiswsgi.gateway.responder", "iiswsgi.settings"} <= modules
    found = sorted(name for name in NOT_AT_START if name in modules)
    assert not found, found


def test_the_check_sees_a_costly_import(tmp_path):
    """An application that imports json itself: the list read is the
    serving process's own, so the check above can fail."""
    modules = _modules_at_first_request(tmp_path, "import json, pathlib")
    assert {"json", "pathlib"} <= modules
