"""Seed inputs for the fuzz targets, generated from the specification
(with the independent encoder in tests/support/fcgi.py).

``python fuzz/seeds.py`` (re)writes them into fuzz/seeds/NAME/.
"""

import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.support import fcgi  # noqa: E402
from tests.support.iis import iis_params  # noqa: E402

from targets import environ_input  # noqa: E402


def record_stream_seeds():
    params = iis_params("/app/hello", app_path="/app", query="a=1")
    one = fcgi.request(1, params, b"body=1")
    two = fcgi.request(2, {"A": "b"}, b"x" * 300, keep_conn=False,
                       chunk=100, padding=3)
    seeds = [
        one,
        two,
        one + fcgi.request(2, {"PATH_INFO": "/"}),
        fcgi.begin(3) + fcgi.stream(fcgi.PARAMS, 3, fcgi.pairs({"X": "1"}))
        + fcgi.record(fcgi.STDIN, 3, b"part") + fcgi.record(
            fcgi.ABORT_REQUEST, 3),
        fcgi.begin(4) + fcgi.record(fcgi.ABORT_REQUEST, 4),
        fcgi.record(fcgi.GET_VALUES, 0, fcgi.pairs(
            {"FCGI_MAX_CONNS": "", "FCGI_MPXS_CONNS": ""})),
        fcgi.record(99, 0, b"?"),
        fcgi.request(5, {"N": "v"}, role=fcgi.AUTHORIZER),
        fcgi.begin(6) + fcgi.begin(7) + fcgi.stream(fcgi.PARAMS, 6, b"")
        + fcgi.record(fcgi.DATA, 6, b"d") + fcgi.stream(fcgi.STDIN, 6, b""),
    ]
    # The first byte is the read size minus one.
    return [bytes((step,)) + seed for seed in seeds for step in (0, 7, 255)]


def pairs_seeds():
    return [
        b"",
        fcgi.pairs({"A": "b"}),
        fcgi.pairs({"N" * 200: "v" * 300, "": ""}),
        fcgi.pairs(iis_params("/x")),
        b"\x80\x00\x00\x05\x01abcdef",
        b"\x05",
    ]


def environ_seeds():
    seeds = []
    mounts = ["/LM/W3SVC/1/ROOT", "/LM/W3SVC/1/ROOT/app",
              "/LM/W3SVC/2/root/Caf\xc3\xa9/"]
    urls = ["/app/hello", "/app/%2e%2e/other", "/app/..%2fother",
            "/APP/x/./y/../z?q=1", "/app", "http://h/app/x", "/caf%C3%A9/p",
            "/app%2F..%2F..%2Fetc", "*"]
    for mount in mounts:
        for url in urls:
            seeds.append(environ_input({"UNENCODED_URL": url,
                                        "APPL_MD_PATH": mount,
                                        "PATH_INFO": url.split("?")[0]}))
    seeds.append(environ_input({"REQUEST_URI": "/s/a/../b",
                                "script_name": "/s"}))
    seeds.append(environ_input({"HTTP_X_ORIGINAL_URL": "/app/orig",
                                "UNENCODED_URL": "/rewritten",
                                "APPL_MD_PATH": mounts[1]}, flags=2))
    seeds.append(environ_input({"SCRIPT_NAME": "/cgi", "PATH_INFO": "/p",
                                "REQUEST_URI": "/cgi/p", "HTTPS": "on"}))
    return seeds


SEEDS = {"record_stream": record_stream_seeds, "pairs": pairs_seeds,
         "environ": environ_seeds}


def write(directory=os.path.join(HERE, "seeds")):
    for name, make in SEEDS.items():
        folder = os.path.join(directory, name)
        os.makedirs(folder, exist_ok=True)
        for seed in make():
            path = os.path.join(folder, hashlib.sha1(seed).hexdigest())
            with open(path, "wb") as f:
                f.write(seed)


if __name__ == "__main__":
    write()
