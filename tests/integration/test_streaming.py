"""Large responses and uploads through a real gateway process started as
IIS starts it (``python -m iiswsgi`` with a socketpair as standard input):
how a 64 KiB chunk goes out (one write, the fewest records), and an upload
cut into records and writes at odd places arriving intact in
``wsgi.input``, also when read again after a rewind."""

import hashlib
import os
import socket
import struct
import subprocess
import sys

import pytest

from iiswsgi.iis.variables import server_variables
from iiswsgi.protocol import fastcgi
from tests.support.fcgi import Client, record, request
from tests.support.iis import ROOT

pytestmark = pytest.mark.skipif(os.name == "nt", reason="socketpair stdin")

HEADER = struct.Struct(">BBHHBx")
CHUNK = 65536

APP = """
import hashlib

CHUNK = 65536


def chunks(environ, start_response):
    count = int(environ["QUERY_STRING"])
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(count * CHUNK))])
    for n in range(count):
        yield bytes([n % 251]) * (CHUNK - 1) + bytes([n % 7])


def huge(environ, start_response):
    size = int(environ["QUERY_STRING"])
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return iter([bytes(range(256)) * (size // 256)])


def upload(environ, start_response):
    body = environ["wsgi.input"]
    first = hashlib.sha256()
    size = 0
    while True:
        block = body.read(CHUNK)
        if not block:
            break
        first.update(block)
        size += len(block)
    body.seek(0)
    again = hashlib.sha256(body.read()).hexdigest()
    answer = ("%d %s %s" % (size, first.hexdigest(), again)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(answer)))])
    return [answer]


def app(environ, start_response):
    return {"/chunks": chunks, "/huge": huge, "/upload": upload}[
        environ["PATH_INFO"]](environ, start_response)
"""


def _gateway(tmp_path, kind=socket.SOCK_STREAM):
    (tmp_path / "streaming_app.py").write_text(APP)
    parent, child = socket.socketpair(socket.AF_UNIX, kind)
    env = dict(os.environ, WSGI_HANDLER="streaming_app.app",
               WSGI_LOG=str(tmp_path / "log"),
               PYTHONPATH=os.pathsep.join([ROOT, str(tmp_path)]))
    process = subprocess.Popen([sys.executable, "-m", "iiswsgi"],
                               stdin=child, env=env, cwd=str(tmp_path),
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    child.close()
    return process, parent


def _params(tmp_path, path, query="", body_size=0):
    params = server_variables(path, path, str(tmp_path),
                              method="POST" if body_size else "GET",
                              content_length=body_size, complete=True)
    params["QUERY_STRING"] = query
    return params


def _records(message):
    """The (type, content) of each record in ``message``, which must hold
    whole records only."""
    out = []
    pos = 0
    while pos < len(message):
        _, rtype, _, clen, plen = HEADER.unpack_from(message, pos)
        start = pos + HEADER.size
        assert start + clen + plen <= len(message), "a record cut short"
        out.append((rtype, message[start:start + clen]))
        pos = start + clen + plen
    return out


def test_a_64_kib_chunk_goes_out_in_one_write_of_two_records(tmp_path):
    """On a SOCK_SEQPACKET socketpair every write is one message: each
    64 KiB chunk the application yields is one write of two FCGI_STDOUT
    records (65535 bytes, then 1: 65536 does not fit one record)."""
    process, sock = _gateway(tmp_path, socket.SOCK_SEQPACKET)
    try:
        sock.settimeout(30)
        sock.sendall(request(1, _params(tmp_path, "/chunks", "4")))
        messages = []
        while True:
            message = sock.recv(1 << 20)
            assert message, "the gateway closed the pipe"
            messages.append(_records(message))
            if messages[-1][-1][0] == fastcgi.END_REQUEST:
                break
    finally:
        sock.close()
        process.wait(30)
    # The head goes with the first chunk; then one write per chunk; then
    # the empty FCGI_STDOUT and FCGI_END_REQUEST.
    assert len(messages) == 5, [[(t, len(c)) for t, c in m] for m in messages]
    head_and_first = messages[0]
    assert [t for t, _ in head_and_first] == [fastcgi.STDOUT] * 2
    head, _, first = b"".join(c for _, c in head_and_first).partition(
        b"\r\n\r\n")
    assert head.startswith(b"Status: 200 OK")
    assert first == bytes([0]) * (CHUNK - 1) + bytes([0])
    for n, message in enumerate(messages[1:4], 1):
        assert [(t, len(c)) for t, c in message] == [
            (fastcgi.STDOUT, 65535), (fastcgi.STDOUT, 1)]
        assert b"".join(c for _, c in message) == (
            bytes([n % 251]) * (CHUNK - 1) + bytes([n % 7]))
    assert [(t, c) for t, c in messages[4]][0] == (fastcgi.STDOUT, b"")
    assert messages[4][-1][0] == fastcgi.END_REQUEST


def test_a_chunk_of_many_records_arrives_whole_and_in_order(tmp_path):
    """A 40 MiB chunk: 641 records, 1,282 buffers, more than one vectored
    write takes (IOV_MAX is 1,024)."""
    size = 40 << 20
    process, sock = _gateway(tmp_path)
    try:
        response = Client(sock).request(_params(tmp_path, "/huge", str(size)))
    finally:
        sock.close()
        process.wait(30)
    assert response.status == 200
    assert len(response.body) == size
    assert response.body == bytes(range(256)) * (size // 256)


@pytest.mark.parametrize("record_size,write_size", [
    (65535, 65536 * 3 + 5),     # full records, writes across them
    (1000, 7919),               # small records, a prime write size
    (40000, 1),                 # the first bytes a byte at a time
])
def test_an_upload_arrives_intact_across_records_and_writes(
        tmp_path, record_size, write_size):
    """3 MiB (past the 1 MiB spool threshold): read in 64 KiB blocks as
    it comes, then again from the start after seek(0)."""
    body = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32 + 7)
    expected = hashlib.sha256(body).hexdigest()
    rid = 1
    connection = fastcgi.ClientConnection()
    data = (connection.begin_request(rid)
            + connection.send_params(
                rid, _params(tmp_path, "/upload", body_size=len(body)))
            + b"".join(record(fastcgi.STDIN, rid,
                              body[i:i + record_size], padding=i % 3)
                       for i in range(0, len(body), record_size))
            + record(fastcgi.STDIN, rid))
    process, sock = _gateway(tmp_path)
    try:
        client = Client(sock)
        view = memoryview(data)
        # One byte at a time only for the first 64 KiB: then in 64 KiB.
        first = min(len(data), 65536 if write_size == 1 else len(data))
        pos = 0
        while pos < first:
            client.send(view[pos:pos + write_size])
            pos += write_size
        while pos < len(data):
            client.send(view[pos:pos + 65536])
            pos += 65536
        response = client.read_response(rid)
    finally:
        sock.close()
        process.wait(30)
    assert response.status == 200
    assert response.body == ("%d %s %s" % (len(body), expected,
                                           expected)).encode()
