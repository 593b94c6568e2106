"""The gateway on Windows CPython, started the way IIS starts it, under
Wine: a real duplex named pipe as stdin, invalid stdout and stderr, the
shutdown event, reconnection without FCGI_KEEP_CONN, protocol="Tcp".

iis_standin.py (run by the Windows interpreter) drives each scenario and
reports what it saw; the assertions are here.
"""

import json

import pytest

from tests.windows import winpython

SCENARIOS = [
    "environ", "upload", "big_chunks", "keep_conn", "exception", "print",
    "shutdown_event_in_flight", "shutdown_event_idle", "client_closes_pipe",
    "no_keep_conn_reconnect", "connect_late", "restart_on_change",
    "paste_style", "tcp", "log_location", "shutdown_event_half_record",
    "restart_during_first_request", "request_right_after_restart",
    "read_timeout", "pipe_closes_mid_body", "notifications",
    "directory_changes",
]


@pytest.fixture(scope="session")
def results(tmp_path_factory):
    work = tmp_path_factory.mktemp("windows")
    meta = winpython.install_iiswsgi(work / "iiswsgi-meta")
    scenarios_dir = work / "scenarios"
    scenarios_dir.mkdir()
    run = winpython.run_python(
        work, [str(winpython.HERE / "iis_standin.py"),
               winpython.windows_path(scenarios_dir)] + SCENARIOS,
        timeout=900, paths=[winpython.TESTS / "apps", meta])
    found = {}
    for line in run.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            found[record["scenario"]] = record
    if not found:
        pytest.fail("the IIS stand-in reported nothing (exit %d):\n%s"
                    % (run.returncode, run.stderr.decode("utf-8", "replace")
                       [-4000:]))
    return found


def observed(results, name):
    record = results.get(name)
    assert record is not None, "scenario %s did not run" % name
    assert "error" not in record, record["error"]
    return record["observed"]


def latin1(text):
    return text.encode("utf-8").decode("latin-1")


def test_environ_under_a_virtual_directory(results):
    seen = observed(results, "environ")
    response = seen["response"]
    assert response["status"] == 200
    environ = response["json"]
    assert environ["SCRIPT_NAME"] == "/app"
    assert environ["PATH_INFO"] == latin1("/hello wörld")
    assert environ["QUERY_STRING"] == "q=%20"
    assert environ["wsgi.multiprocess"] is True
    assert environ["wsgi.multithread"] is False
    assert environ["pid"] == seen["pid"]
    assert response["stdout_ends"] == 1 and response["stderr"] == ""
    assert "serving the FastCGI pipe on standard input (\\\\.\\pipe\\IISFCGI-" \
        in seen["log"]


def test_one_mib_upload(results):
    seen = observed(results, "upload")
    data = seen["response"]["json"]
    assert data["size"] == seen["size"] == 1 << 20
    assert data["sha256"] == seen["sha256"]


def test_64_kib_chunks_of_a_streamed_response_arrive_whole(results):
    """Each is two records written at once (a named pipe has no vectored
    write: the records are joined)."""
    seen = observed(results, "big_chunks")
    assert (seen["status"], seen["size"], seen["intact"],
            seen["stdout_ends"]) == (200, 20 * 65536, True, 1), seen


def test_200_sequential_keep_conn_requests(results):
    seen = observed(results, "keep_conn")
    assert seen["statuses"] == [200]
    assert seen["pids"] == [seen["gateway_pid"]]


def test_exception_then_a_good_request(results):
    seen = observed(results, "exception")
    assert seen["bad"]["status"] == 500
    assert "boom on purpose" not in seen["bad"].get("body", "")
    assert seen["bad"]["stderr"] == ""
    assert seen["good"]["status"] == 200
    assert seen["alive"] is True
    assert "RuntimeError: boom on purpose" in seen["log"]


def test_print_with_no_stdout(results):
    seen = observed(results, "print")
    assert seen["response"]["json"] == {"printed": True}
    assert seen["alive"] is True
    assert "printed by the application" in seen["log"]
    assert "written to stderr by the application" in seen["log"]


def test_shutdown_event_finishes_the_request_in_flight(results):
    seen = observed(results, "shutdown_event_in_flight")
    assert seen["first"] == 200
    assert seen["response"]["json"]["slow"] is True
    assert seen["exit_code"] == 0
    assert seen["exited_after"] < 10
    assert "IIS signalled the shutdown event" in seen["log"]


def test_shutdown_event_when_idle(results):
    seen = observed(results, "shutdown_event_idle")
    assert seen["first"] == 200
    assert seen["exit_code"] == 0
    assert seen["exited_after"] < 5
    assert "IIS signalled the shutdown event" in seen["log"]


def test_client_closing_the_pipe_ends_the_process(results):
    seen = observed(results, "client_closes_pipe")
    assert seen["first"] == 200
    assert seen["exit_code"] == 0
    assert "the web server closed the pipe" in seen["log"]


def test_no_keep_conn_disconnects_and_reconnects(results):
    seen = observed(results, "no_keep_conn_reconnect")
    assert seen["first"]["json"]["PATH_INFO"] == "/first"
    assert seen["after_first"] == ""          # the gateway disconnected
    assert seen["second"]["json"]["PATH_INFO"] == "/second"
    assert seen["second"]["json"]["pid"] == seen["gateway_pid"]
    assert seen["alive"] is True


def test_pipe_not_yet_connected_is_waited_for(results):
    seen = observed(results, "connect_late")
    assert seen["response"]["json"]["PATH_INFO"] == "/late"


def test_restart_after_a_py_change(results):
    seen = observed(results, "restart_on_change")
    assert seen["first"]["body"] == "version 1"
    assert seen["alive_before"] is True
    assert seen["exit_code"] == 0
    assert "versioned.py changed" in seen["log"]


def test_paste_style(results):
    seen = observed(results, "paste_style")
    environ = seen["response"]["json"]
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/app", "/x")


def test_tcp_protocol_listening_socket(results):
    seen = observed(results, "tcp")
    paths = [r["json"]["PATH_INFO"] for r in seen["responses"]]
    assert paths == ["/tcp/0", "/tcp/1", "/tcp/2"] * 2
    assert all(r["json"]["wsgi.multiprocess"] for r in seen["responses"])
    assert "accepting FastCGI connections on the socket given as standard" \
        " input" in seen["log"]


def test_default_log_with_spaces_and_non_ascii_never_in_temp(results):
    seen = observed(results, "log_location")
    assert seen["status"] == 200
    assert seen["log_exists"] and seen["log_has_start"]
    assert seen["temp"] == []


def test_shutdown_event_with_half_a_record_received(results):
    seen = observed(results, "shutdown_event_half_record")
    assert seen["first"] == 200
    assert seen["exit_code"] == 0, seen["log"]
    assert seen["exited_after"] < 5, seen
    assert "IIS signalled the shutdown event" in seen["log"]


def test_a_change_during_the_first_request_restarts(results):
    seen = observed(results, "restart_during_first_request")
    assert seen["first"]["json"]["slow"] is True
    assert seen["exit_code"] == 0, seen["log"]
    assert "versioned.py changed" in seen["log"]


def test_the_request_right_after_a_restart_answer_is_served(results):
    seen = observed(results, "request_right_after_restart")
    assert seen["slow"]["json"]["slow"] is True
    assert seen["after"].get("json", {}).get("PATH_INFO") == "/after", seen
    assert seen["exit_code"] == 0, seen["log"]


def test_read_timeout_on_the_named_pipe(results):
    seen = observed(results, "read_timeout")
    assert seen["first"] == 200
    assert seen["exit_code"] == 0, seen["log"]
    assert 1.5 < seen["exited_after"] < 10, seen
    assert "the web server sent nothing for 2" in seen["log"]


def test_pipe_closing_mid_body_is_logged_cleanly(results):
    seen = observed(results, "pipe_closes_mid_body")
    assert seen["exit_code"] == 0
    assert "[Errno 0]" not in seen["log"], seen["log"]
    assert "Traceback" not in seen["log"], seen["log"]


def test_a_deep_change_restarts_and_a_venv_is_skipped(results):
    seen = observed(results, "notifications")
    # Wine's ReadDirectoryChangesW names only the folder's own entries:
    # there the watcher scans (and says why); Windows gets notifications.
    assert ("by change notifications" in seen["log"]
            or "do not report changes below the top folder" in seen["log"]
            ), seen["log"]
    assert seen["alive_after_venv"] is True, seen["log"]
    assert seen["exit_code"] == 0
    assert "deep.py changed" in seen["log"], seen["log"]


def test_directory_changes_name_the_changed_files(results):
    """winapi.DirectoryChanges on a real folder: a change is reported by
    name, and cancel() ends a waiting read."""
    seen = observed(results, "directory_changes")
    assert "top.py" in seen["paths"], seen
    assert seen["cancelled"] is True, seen
