"""The web server's side of FastCGI, for tests.

Written apart from iiswsgi.fastcgi on purpose, from the specification, so
that the tests check one implementation against another.
"""

import socket
import struct

HEADER = struct.Struct(">BBHHBB")

BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR, \
    DATA, GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = range(1, 12)
RESPONDER, AUTHORIZER, FILTER = 1, 2, 3


def record(rtype, rid, content=b"", padding=0, version=1):
    return (HEADER.pack(version, rtype, rid, len(content), padding, 0)
            + content + b"\x00" * padding)


def _length(n):
    return bytes((n,)) if n < 128 else struct.pack(">I", n | 0x80000000)


def _bytes(value):
    return value if isinstance(value, bytes) else value.encode("utf-8")


def pairs(items):
    if isinstance(items, dict):
        items = items.items()
    out = b""
    for name, value in items:
        name, value = _bytes(name), _bytes(value)
        out += _length(len(name)) + _length(len(value)) + name + value
    return out


def begin(rid, role=RESPONDER, keep_conn=True):
    return record(BEGIN_REQUEST, rid,
                  struct.pack(">HB5x", role, 1 if keep_conn else 0))


def stream(rtype, rid, data, chunk=65535, padding=0):
    """Records carrying ``data``, then the empty record that ends them."""
    out = [record(rtype, rid, data[i:i + chunk], padding)
           for i in range(0, len(data), chunk)]
    out.append(record(rtype, rid, b"", padding))
    return b"".join(out)


def request(rid, params, body=b"", keep_conn=True, chunk=65535, padding=0,
            role=RESPONDER):
    return (begin(rid, role, keep_conn)
            + stream(PARAMS, rid, pairs(params), chunk, padding)
            + stream(STDIN, rid, body, chunk, padding))


class Response:
    def __init__(self):
        self.records = []
        self.stdout = b""
        self.stderr = b""
        self.app_status = None
        self.protocol_status = None
        self.stdout_ends = 0

    def parse(self):
        head, _, self.body = self.stdout.partition(b"\r\n\r\n")
        self.headers = []
        self.status = None
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            value = value.strip()
            if name.lower() == "status":
                self.status = int(value.split()[0])
            else:
                self.headers.append((name, value))
        if self.status is None and self.stdout:
            self.status = 200
        return self

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def text(self):
        return self.body.decode("utf-8")


class Client:
    """Talks FastCGI over a connected socket."""

    def __init__(self, sock, timeout=30):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def _read(self, n):
        while len(self.buffer) < n:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError("connection closed with %d of %d bytes"
                               % (len(self.buffer), n))
            self.buffer += data
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def read_record(self):
        version, rtype, rid, clen, plen, _ = HEADER.unpack(self._read(8))
        assert version == 1, version
        content = self._read(clen)
        self._read(plen)
        return rtype, rid, content

    def read_response(self, rid):
        response = Response()
        while True:
            rtype, got, content = self.read_record()
            response.records.append((rtype, got, content))
            if got != rid:
                continue
            if rtype == STDOUT:
                if content:
                    assert not response.stdout_ends, "STDOUT after its end"
                    response.stdout += content
                else:
                    response.stdout_ends += 1
            elif rtype == STDERR:
                response.stderr += content
            elif rtype == END_REQUEST:
                response.app_status, response.protocol_status = \
                    struct.unpack(">IB3x", content)
                return response.parse()

    def request(self, params, body=b"", rid=1, keep_conn=True, **kw):
        self.send(request(rid, params, body, keep_conn, **kw))
        return self.read_response(rid)

    def closed(self, timeout=10):
        """True once the other end closes the connection."""
        self.sock.settimeout(timeout)
        try:
            return self.buffer == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def decode_pairs(data):
    out = {}
    pos = 0
    while pos < len(data):
        lengths = []
        for _ in range(2):
            if data[pos] & 0x80:
                lengths.append(struct.unpack(">I", data[pos:pos + 4])[0]
                               & 0x7FFFFFFF)
                pos += 4
            else:
                lengths.append(data[pos])
                pos += 1
        name = data[pos:pos + lengths[0]]
        pos += lengths[0]
        out[name] = data[pos:pos + lengths[1]]
        pos += lengths[1]
    return out
