"""The least a pure-Python FastCGI responder on the IIS pipe can do.

Reads records from fd 0 with os.read, answers each request with a single
os.write.  No error pages, no streaming, no limits, no path fix-ups: it is
the benchmark's ceiling for pure Python, not a server to deploy.
"""

import importlib
import io
import os
import struct
import sys

HEADER = struct.Struct(">BBHHBx")  # version, type, request id, length, pad


def decode(data):
    """FastCGI name-value pairs as a dict of latin-1 strings."""
    environ, pos, end = {}, 0, len(data)
    while pos < end:
        sizes = []
        for _ in (0, 1):
            size = data[pos]
            if size < 0x80:
                pos += 1
            else:
                size = int.from_bytes(data[pos:pos + 4], "big") & 0x7FFFFFFF
                pos += 4
            sizes.append(size)
        value_at = pos + sizes[0]
        pos = value_at + sizes[1]
        environ[data[value_at - sizes[0]:value_at].decode("latin-1")] = (
            data[value_at:pos].decode("latin-1"))
    return environ


def respond(app, rid, params, body):
    environ = decode(params)
    environ.update({
        "wsgi.version": (1, 0), "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": False,
        "wsgi.multiprocess": True, "wsgi.run_once": False,
        "wsgi.url_scheme": "https" if environ.get("HTTPS") == "on"
        else "http"})
    head, written = [], []

    def start_response(status, headers, exc_info=None):
        head[:] = ["Status: %s\r\n" % status]
        head.extend("%s: %s\r\n" % header for header in headers)
        return written.append

    result = app(environ, start_response)
    try:
        data = b"".join(written) + b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    data = ("".join(head) + "\r\n").encode("latin-1") + data
    parts = []
    for start in range(0, len(data), 0xFFFF):
        chunk = data[start:start + 0xFFFF]
        parts += (HEADER.pack(1, 6, rid, len(chunk), 0), chunk)
    parts += (HEADER.pack(1, 6, rid, 0, 0), HEADER.pack(1, 3, rid, 8, 0),
              bytes(8))
    return b"".join(parts)


def main():
    module, _, name = os.environ["WSGI_HANDLER"].rpartition(".")
    app = getattr(importlib.import_module(module), name)
    buffer, params, body, keep = b"", bytearray(), bytearray(), 1
    while True:
        data = os.read(0, 1 << 17)
        if not data:
            return
        buffer += data
        pos = 0
        while len(buffer) - pos >= 8:
            _, rtype, rid, clen, plen = HEADER.unpack_from(buffer, pos)
            end = pos + 8 + clen + plen
            if end > len(buffer):
                break
            content = buffer[pos + 8:pos + 8 + clen]
            pos = end
            if rtype == 1:  # BEGIN_REQUEST: role (2 bytes), flags
                keep = content[2] & 1
                params.clear()
                body.clear()
            elif rtype == 4:  # PARAMS
                params += content
            elif rtype == 5 and content:  # STDIN
                body += content
            elif rtype == 5:  # the empty STDIN: the request is complete
                view = memoryview(respond(app, rid, bytes(params),
                                          bytes(body)))
                while view:
                    view = view[os.write(0, view):]
                if not keep:
                    return
        buffer = buffer[pos:]


if __name__ == "__main__":
    main()
