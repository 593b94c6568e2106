"""test_msdeploy's probe: one request to a real FastCGI process started as
IIS starts it, read with the protocol's client side and CGI parser."""

import os
import sys

import pytest

from iiswsgi.msdeploy.probe import iis_params, probe

RAW_RESPONDER = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "apps", "raw_responder.py")

pytestmark = pytest.mark.skipif(os.name == "nt",
                                reason="the probe needs POSIX")


def run(tmp_path, url):
    return probe([sys.executable, RAW_RESPONDER], str(tmp_path), url,
                 timeout=30)


def test_status_headers_body_and_stderr(tmp_path):
    response = run(tmp_path, "/stderr")
    assert (response.status, response.reason) == (200, "OK")
    assert response.headers == [("Content-Type", "text/plain")]
    assert response.body == b"body after stderr"
    assert response.errors == b"warning: the database is slow\n"
    assert response.ok


def test_status_header_and_lone_location(tmp_path):
    assert run(tmp_path, "/other").status == 201
    response = run(tmp_path, "/location")
    assert (response.status, response.reason) == (302, "Found")
    assert response.headers == [("Location", "/elsewhere")]


def test_malformed_headers_are_a_502_that_says_so(tmp_path):
    response = run(tmp_path, "/noheaders")
    assert (response.status, response.reason) == (502, "Bad Gateway")
    assert b"returned malformed headers" in response.body
    assert b"just a body" in response.body
    assert not response.ok


def test_params_are_iis_server_variables(tmp_path):
    params = iis_params("/a%20b?x=1", str(tmp_path))
    assert params["PATH_INFO"] == "/a b"
    assert params["REQUEST_URI"] == "/a%20b?x=1"
    assert params["QUERY_STRING"] == "x=1"
    assert params["APPL_PHYSICAL_PATH"] == os.path.join(str(tmp_path), "")


def test_a_process_that_cannot_start_is_a_502_that_says_so(tmp_path):
    missing = str(tmp_path / "no-python")
    response = probe([missing], str(tmp_path), "/", timeout=30)
    assert (response.status, response.reason) == (502, "Bad Gateway")
    assert response.body.startswith(b"cannot start " + missing.encode())


def test_no_answer_in_time_is_a_502_that_says_so(tmp_path):
    response = probe([sys.executable, RAW_RESPONDER], str(tmp_path),
                     "/hang", timeout=1)
    assert (response.status, response.reason) == (502, "Bad Gateway")
    assert response.body == b"the gateway timed out after 1s"


def test_what_the_process_printed_is_kept(tmp_path):
    """Standard output and error go to the Response, not closed as the
    emulator leaves them, for test_msdeploy's report."""
    script = ("import sys; print('out line'); sys.stdout.flush();"
              " print('err line', file=sys.stderr)")
    response = probe([sys.executable, "-c", script], str(tmp_path), "/",
                     timeout=30)
    assert (response.status, response.reason) == (502, "Bad Gateway")
    assert response.body.startswith(
        b"the gateway closed the connection without an answer")
    assert "out line" in response.output
    assert "err line" in response.output
    assert "Process output:" in response.describe()
