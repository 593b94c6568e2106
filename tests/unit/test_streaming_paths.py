"""The paths a large body takes: a response chunk as records for one
vectored write (iiswsgi.protocol.fastcgi), and wsgi.input handing over
what just arrived without a copy while keeping it for a rewind
(iiswsgi.gateway.body)."""

import pytest

from iiswsgi.gateway.body import Input
from iiswsgi.protocol import fastcgi


def _active(rid=1):
    connection = fastcgi.Connection()
    client = fastcgi.ClientConnection()
    connection.receive_data(client.begin_request(rid)
                            + client.send_params(rid, {"A": "b"}))
    while not isinstance(connection.next_event(), fastcgi.Request):
        pass
    return connection


@pytest.mark.parametrize("size", [1, 100, 65535, 65536, 65535 * 2,
                                  65535 * 2 + 3, 65535 * 3, 1 << 20])
def test_stdout_buffers_are_the_records_of_send_stdout(size):
    connection = _active()
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    buffers = connection.send_stdout_buffers(data)
    assert b"".join(buffers) == connection.send_stdout(data)
    records = -(-size // fastcgi.MAX_CONTENT)
    assert len(buffers) == 2 * records      # a header and a view each
    assert connection.send_stdout_buffers(b"") == []
    # The content is a view of the chunk, not a copy of it.
    assert all(isinstance(b, memoryview) and b.obj is data
               for b in buffers[1::2])


def test_a_64_kib_chunk_is_two_records():
    connection = _active()
    records = fastcgi.ClientConnection(track_requests=False)
    records.receive_data(b"".join(connection.send_stdout_buffers(
        b"a" * 65536)))
    sizes = []
    while True:
        event = records.next_event()
        if event is fastcgi.NEED_DATA:
            break
        sizes.append(len(event.data))
    assert sizes == [65535, 1]


def _pieces(count, size=65535):
    return [bytes([n]) * size for n in range(count)]


def _body(pieces, tmp_path, threshold=100000):
    source = list(pieces)
    return Input(lambda: source.pop(0) if source else b"",
                 spool_threshold=threshold, spool_dir=str(tmp_path))


def test_what_just_arrived_is_handed_over_as_it_is(tmp_path):
    pieces = _pieces(5)
    body = _body(pieces, tmp_path)
    got = [body.read(65536) for _ in pieces]
    assert body.spooled
    assert all(a is b for a, b in zip(got, pieces))
    assert body.read(65536) == b""
    # All of it was kept: from the start again, from the file.
    body.seek(0)
    assert body.read() == b"".join(pieces)
    body.seek(65535 * 3 + 7)
    assert body.read(10) == bytes([3]) * 10


def test_reads_smaller_than_the_pieces_and_mixed_with_lines(tmp_path):
    pieces = [b"a" * 70000, b"line\nnext", b"b" * 70000, b"\nend"]
    data = b"".join(pieces)
    body = _body(pieces, tmp_path, threshold=50000)
    out = [body.read(30000), body.read(65536), body.read(65536)]
    out.append(body.readline())
    out.append(body.read(4))
    out.append(body.readline())
    out.append(body.read())
    assert b"".join(out) == data
    # Each read gives what has arrived, at most its size: a read at the
    # end of it waits for the next piece.
    assert out == [b"a" * 30000, b"a" * 40000, b"line\nnext",
                   b"b" * 70000 + b"\n", b"end", b"", b""]
    body.seek(70000)
    assert body.readline() == b"line\n"
    assert body.read(65536 * 4) == data[70005:]
