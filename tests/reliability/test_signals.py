"""A second stop signal while a request is in flight: the first asks the
gateway to finish the request, the second to exit without waiting.  Either
way the process must exit cleanly (status 0, no traceback) and promptly,
on the IIS pipe (the application runs in the main thread, where the
signal lands) and on a listening socket (it runs in a worker thread).

The application (/hold in stream_apps.py) says when it is running and
then takes 30 s to answer, so "promptly" cannot be the request ending.
"""

import signal
import time

import pytest

from tests.integration.peers_support import (
    IISWSGI, Proc, require_script, socket_path, subprocess_env,
    unix_connect, unix_socket_ready, wait_until, write_ini)
from tests.reliability.fault_support import (
    params, problems, stage_marker)
from tests.support import fcgi
from tests.support.iis import wait_for

STREAMS = "tests.reliability.stream_apps.application"

#: How long the gateway may take to exit after the second signal.
PROMPTLY = 5

PAIRS = [(signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGTERM)]
IDS = ["SIGTERM-twice", "SIGINT-then-SIGTERM"]


def _second_signal(send, log_text, alive, first, second, wait):
    """The two signals, the first seen to be handled (its "stopping" line)
    and to leave the request running; the seconds the exit took after the
    second, and the exit status."""
    send(first)
    wait_for(lambda: "stopping: signal %s" % first.name in log_text(),
             timeout=10, what="the gateway to log the first signal")
    time.sleep(0.3)
    assert alive(), "one signal must let the request in flight finish"
    began = time.monotonic()
    send(second)
    status = wait(PROMPTLY + 5)
    return time.monotonic() - began, status


@pytest.mark.parametrize("first, second", PAIRS, ids=IDS)
def test_second_signal_on_the_iis_pipe(fault_gateway, fault_markers, first,
                                       second):
    gw = fault_gateway(handler=STREAMS)
    gw.send(fcgi.request(1, params("/hold", "seconds=30")))
    stage_marker(fault_markers, "hold")
    took, status = _second_signal(
        gw.process.send_signal, gw.log_text,
        lambda: gw.process.poll() is None, first, second, gw.wait)
    log = gw.log_text()
    assert status == 0, log
    assert took < PROMPTLY, (took, log)
    assert "second stop signal: exiting without waiting" in log, log
    assert problems(log) == [], log
    assert "exiting after 0 requests: signal %s" % first.name in log, log


@pytest.mark.parametrize("first, second", PAIRS, ids=IDS)
def test_second_signal_on_a_listening_socket(tmp_path, fault_markers, first,
                                             second):
    log_path = tmp_path / "gateway.log"
    ini = write_ini(tmp_path / "app.ini", "call:tests.reliability."
                    "stream_apps:application_factory",
                    {"threads": 2, "log_file": log_path})
    with socket_path(tmp_path) as sock:
        proc = Proc("gateway", [require_script(IISWSGI), "serve", ini,
                                "--socket", sock], tmp_path,
                    env=subprocess_env(FAULT_MARKERS=fault_markers))
        try:
            wait_until(lambda: unix_socket_ready(sock), "the gateway socket",
                       proc)
            client = fcgi.Client(unix_connect(sock))
            client.send(fcgi.request(1, params("/hold", "seconds=30")))
            stage_marker(fault_markers, "hold")

            def log_text():
                try:
                    return log_path.read_text(encoding="utf-8")
                except OSError:
                    return ""
            took, status = _second_signal(
                proc.popen.send_signal, log_text, proc.alive, first, second,
                proc.popen.wait)
            log = log_text()
            output = proc.output()
            assert status == 0, output
            assert took < PROMPTLY, (took, output)
            assert "second stop signal: exiting without waiting" in log, log
            assert problems(log) == [], log
            assert "Traceback" not in output, output
            client.sock.close()
        finally:
            proc.stop()
