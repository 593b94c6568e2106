"""``WSGI_SPOOL_BODY=false`` through a real gateway started as IIS starts
it: a 4 MiB upload arrives intact, no temporary file is made (the input
says so, and TMPDIR, where one would go, stays empty), a rewind within the first
``spool_threshold`` bytes works, and one past them is refused with an
error naming the option."""

import hashlib
import os
import socket
import subprocess
import sys

import pytest

from iiswsgi.iis.variables import server_variables
from tests.support.fcgi import Client
from tests.support.iis import ROOT

pytestmark = pytest.mark.skipif(os.name == "nt", reason="socketpair stdin")

APP = """
import hashlib
import io


def app(environ, start_response):
    body = environ["wsgi.input"]
    head = body.read(1000)
    body.seek(0)
    again = body.read(1000)
    digest = hashlib.sha256(again)
    size = len(again)
    while True:
        block = body.read(65536)
        if not block:
            break
        digest.update(block)
        size += len(block)
    try:
        body.seek(0)
        refused = "no error"
    except io.UnsupportedOperation as error:
        refused = str(error)
    # A spooled body's file is unlinked at once on POSIX: the input says
    # whether it made one.
    answer = "%d %s %s %s\\n%s" % (size, digest.hexdigest(), head == again,
                                   body.spooled, refused)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [answer.encode()]
"""


def test_an_upload_streams_without_a_temporary_file(tmp_path):
    (tmp_path / "upload_app.py").write_text(APP)
    spool = tmp_path / "tmp"
    spool.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    body = hashlib.sha256(b"seed").digest() * ((4 << 20) // 32 + 5)
    parent, child = socket.socketpair()
    env = dict(os.environ, WSGI_HANDLER="upload_app.app",
               WSGI_SPOOL_BODY="false", TMPDIR=str(spool),
               WSGI_LOG=str(tmp_path / "log"),
               PYTHONPATH=os.pathsep.join([ROOT, str(tmp_path)]))
    process = subprocess.Popen([sys.executable, "-m", "iiswsgi"],
                               stdin=child, env=env, cwd=str(tmp_path),
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    child.close()
    try:
        params = server_variables("/", "/", str(site), method="POST",
                                  content_length=len(body), complete=True)
        response = Client(parent).request(params, body)
    finally:
        parent.close()
        process.wait(30)
    assert response.status == 200, response.body[:2000]
    first, _, refused = response.body.decode().partition("\n")
    assert first == "%d %s True False" % (len(body),
                                    hashlib.sha256(body).hexdigest())
    assert "spool_body" in refused and "WSGI_SPOOL_BODY" in refused, refused
    assert os.listdir(str(spool)) == []
