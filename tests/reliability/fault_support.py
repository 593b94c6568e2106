"""Plain helpers for the reliability tests (test_faults.py,
test_timeouts_and_aborts.py, test_signals.py): IIS's parameters for the
fault applications, what the log must not hold, marker files, and a way
to know that the gateway has read what was sent to it.

The fixtures (``fault_gateway``, ``fault_markers``) are in
tests/conftest.py.
"""

import array
import json
import sys

from tests.support import fcgi
from tests.support.iis import iis_params, wait_for

#: Seconds a gateway gets to exit once it has a reason to.
EXIT_TIMEOUT = 10

#: Linux only: how much of what the test sent the gateway has not read
#: yet (SIOCOUTQ, which is TIOCOUTQ, on a Unix socket).
CAN_SEE_UNREAD = sys.platform.startswith("linux")


def params(path="/", query="", raw_url=None, **kw):
    kw.setdefault("physical_path", "/srv/site/")
    return iis_params(path, query=query, raw_url=raw_url, **kw)


def problems(log):
    """Lines of the log at ERROR level or above, and tracebacks."""
    return [line for line in log.splitlines()
            if " ERROR " in line or " CRITICAL " in line
            or line.startswith("Traceback")]


def closed_marker(markers, name, timeout=5):
    """How many times the response iterable ``name`` was closed (after
    waiting for it to be closed once)."""
    path = markers / (name + ".closed")
    wait_for(path.exists, timeout=timeout, what=str(path))
    return path.read_text().count("closed")


def stage_marker(markers, name, timeout=10):
    """Wait until a fault application says it reached the stage ``name``
    ($FAULT_MARKERS/<name>.stage); what it wrote there."""
    path = markers / (name + ".stage")
    wait_for(path.exists, timeout=timeout, what="the application to write"
             " %s" % path)
    return path.read_text()


def ok(gw, rid=1, path="/next"):
    """A request that must succeed on the same connection."""
    response = gw.client.request(params(path), rid=rid)
    assert response.status == 200, response.stdout[:300]
    assert json.loads(response.body)["PATH_INFO"] == path
    return response


def read_until_closed(gw, request_params, rid=1):
    """Send a request and read what comes until the gateway closes the
    pipe: a tests.support.fcgi.Response, parsed, its records all kept
    (an FCGI_END_REQUEST among them would end the read early)."""
    gw.send(fcgi.request(rid, request_params))
    response = fcgi.Response()
    while True:
        try:
            rtype, _, content = gw.client.read_record()
        except EOFError:
            return response.parse()
        response.records.append((rtype, rid, content))
        if rtype == fcgi.STDOUT:
            response.stdout += content
        elif rtype == fcgi.END_REQUEST:
            return response.parse()


def rss_peak_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def echo_head(length=100):
    """BEGIN and the PARAMS of a POST to /echo announcing ``length`` body
    bytes, none of them sent."""
    p = params("/echo", method="POST", body=b"")
    p["CONTENT_LENGTH"] = str(length)
    return fcgi.begin(1) + fcgi.stream(fcgi.PARAMS, 1, fcgi.pairs(p))


def unread(sock):
    """Bytes sent on ``sock`` (a Unix stream socket) that the other end
    has not read yet (Linux: SIOCOUTQ counts buffer memory, so 0 means
    everything was read)."""
    import fcntl
    import termios
    count = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, count)
    return count[0]


def wait_until_read(gw, timeout=10):
    """Wait until the gateway has read everything sent to it, so it has
    reached the stage those bytes lead to."""
    wait_for(lambda: unread(gw.parent) == 0, timeout=timeout,
             what="the gateway to read everything sent to it")
