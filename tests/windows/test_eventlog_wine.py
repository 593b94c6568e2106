"""The Application event log entries (ReportEventW, source "iiswsgi") made
under Wine by Windows CPython: the calls succeed, and Wine's eventlog
channel shows each message."""

import json

import pytest

from tests.windows import winpython


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    work = tmp_path_factory.mktemp("eventlog")
    # Wine prints what ReportEventW is given on its eventlog channel.
    run = winpython.run_python(
        work, [str(winpython.HERE / "eventlog_probe.py"),
               winpython.windows_path(winpython.ROOT),
               winpython.windows_path(work)], timeout=300,
        winedebug="-all,err+eventlog,warn+eventlog")
    stderr = run.stderr.decode("utf-8", "replace")
    lines = run.stdout.decode("utf-8", "replace").splitlines()
    assert run.returncode == 0 and lines, stderr[-4000:]
    return json.loads(lines[-1]), stderr


def test_report_event_succeeds_and_wine_logs_it(probe):
    found, stderr = probe
    assert found["direct"] is True and found["through_logs"] is True
    assert found["warning"] is True
    assert 'err:eventlog:ReportEventW L"iiswsgi direct event"' in stderr
    assert 'warn:eventlog:ReportEventW L"iiswsgi warning event"' in stderr
    assert 'L"iiswsgi event through logs"' in stderr


def test_no_writable_log_is_reported(probe):
    found, stderr = probe
    assert found["log_path"] is None
    assert 'L"iiswsgi cannot write its log file' in stderr
    assert "afile\\\\site.log" in stderr


def test_an_application_that_cannot_load_is_reported(probe):
    found, stderr = probe
    assert found["status"] == ["500 Internal Server Error"]
    assert "could not load the WSGI application" in stderr
    assert "no_such_module_q7" in stderr


def test_a_gateway_that_cannot_start_is_reported(probe):
    found, stderr = probe
    assert found["without_flup_exit"] != 0
    assert 'L"iiswsgi (' in stderr and "could not start: ModuleNotFoundError: No module named" in (
        stderr)
