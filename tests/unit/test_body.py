"""wsgi.input: streaming, spooling, seeking and limits."""

import io
import os

import pytest

from iiswsgi.gateway.body import Input, RequestTooLarge


class Source:
    """Hands out pieces as the web server would, counting pulls."""

    def __init__(self, pieces):
        self.pieces = list(pieces)
        self.pulls = 0

    def __call__(self):
        self.pulls += 1
        return self.pieces.pop(0) if self.pieces else b""


def make(pieces, **kw):
    source = Source(pieces)
    return Input(source, **kw), source


def test_reads_pull_only_what_is_needed():
    body, source = make([b"abc", b"def", b"ghi"])
    assert body.read(2) == b"ab"
    assert source.pulls == 1
    assert body.read(2) == b"c"     # what has arrived, not more
    assert body.read(10) == b"def"
    assert source.pulls == 2
    assert body.read() == b"ghi"
    assert body.read() == b"" and body.read(5) == b""
    assert body.complete


def test_read_zero_does_not_pull():
    body, source = make([b"x"])
    assert body.read(0) == b""
    assert source.pulls == 0


def test_readline_across_pieces():
    body, _ = make([b"one\ntw", b"o\nthr", b"ee"])
    assert body.readline() == b"one\n"
    assert body.readline() == b"two\n"
    assert body.readline() == b"three"
    assert body.readline() == b""


def test_readline_limit():
    body, _ = make([b"abcdef\n"])
    assert body.readline(3) == b"abc"
    assert body.readline(100) == b"def\n"


def test_iteration_and_readlines():
    assert list(make([b"a\nb\n", b"c"])[0]) == [b"a\n", b"b\n", b"c"]
    # As io.BytesIO: stop once the lines read reach the hint.
    for hint in (1, 2, 3, 0):
        expected = io.BytesIO(b"a\nb\nc\n").readlines(hint)
        assert make([b"a\nb\nc\n"])[0].readlines(hint) == expected


def test_small_body_stays_in_memory():
    body, _ = make([b"x" * 1000], spool_threshold=4096)
    body.read()
    assert not body.spooled


def test_large_body_spools_to_a_file_and_reads_back(tmp_path):
    pieces = [bytes([n]) * 65535 for n in range(40)]
    body, _ = make(pieces, spool_threshold=100000, spool_dir=str(tmp_path))
    first = body.read(10)
    data = first + body.read()
    assert data == b"".join(pieces)
    assert body.spooled
    body.seek(65535 * 3)
    assert body.read(3) == b"\x03\x03\x03"
    body.close()


def test_seek_and_tell():
    body, source = make([b"hello ", b"world"])
    assert body.read(3) == b"hel"
    assert body.tell() == 3
    body.seek(0)
    assert body.read() == b"hello world"
    assert body.seek(-5, io.SEEK_END) == 6
    assert body.read() == b"world"
    assert body.seek(2, io.SEEK_SET) == 2
    assert body.seek(2, io.SEEK_CUR) == 4
    with pytest.raises(ValueError):
        body.seek(-1)


def test_seek_past_the_end_stops_at_the_end():
    body, _ = make([b"abc"])
    assert body.seek(100) == 3


def test_max_size():
    body, source = make([b"x" * 60, b"y" * 60, b"z" * 60], max_size=100)
    assert body.read(60) == b"x" * 60
    with pytest.raises(RequestTooLarge):
        body.read()
    with pytest.raises(RequestTooLarge):
        body.read(1)
    assert source.pieces == [b"z" * 60]   # nothing more is pulled


def test_no_pull_means_an_empty_body():
    body = Input(None)
    assert body.read() == b"" and body.complete


def test_readinto():
    body, _ = make([b"abcdef"])
    buffer = bytearray(4)
    assert body.readinto(buffer) == 4
    assert buffer == b"abcd"


# -- lines of a body that spooled to a file ----------------------------------

def _lines_body(tmp_path, threshold=1000):
    """About 60 KB of numbered lines of varied length, in pieces that cut
    lines anywhere, with a threshold small enough that the body spools to
    a file in the middle of a line."""
    data = b"".join(b"line %05d %s\n" % (n, b"x" * (n % 97))
                    for n in range(1000))
    data += b"no newline at the end"
    pieces = [data[i:i + 777] for i in range(0, len(data), 777)]
    body, _ = make(pieces, spool_threshold=threshold,
                   spool_dir=str(tmp_path))
    return body, data


def test_readline_of_a_spooled_body(tmp_path):
    body, data = _lines_body(tmp_path)
    expected = io.BytesIO(data)
    lines = []
    while True:
        line = body.readline()
        assert line == expected.readline()
        if not line:
            break
        lines.append(line)
        if len(lines) == 3:
            assert not body.spooled     # still under the threshold
    assert body.spooled
    assert b"".join(lines) == data
    assert lines[-1] == b"no newline at the end"
    assert len(lines) == 1001
    body.close()


def test_readline_limits_on_a_spooled_body(tmp_path):
    body, data = _lines_body(tmp_path, threshold=100)
    expected = io.BytesIO(data)
    for size in (1, 5, 13, 200, 0, 7, 1000, 3) * 300:
        assert body.readline(size) == expected.readline(size), size
    assert body.spooled
    # Back to the start, and again: the lines come from the file.
    body.seek(0)
    expected.seek(0)
    assert body.readline() == expected.readline() == b"line 00000 \n"
    body.seek(len(data) - 30)
    expected.seek(len(data) - 30)
    assert body.readline() == expected.readline()
    assert body.readline() == expected.readline()
    assert body.readline() == b""


def test_iteration_and_readlines_of_a_spooled_body(tmp_path):
    body, data = _lines_body(tmp_path)
    assert list(body) == io.BytesIO(data).readlines()
    assert body.spooled
    for hint in (1, 50, 5000, 0, -1):
        body.seek(0)
        assert body.readlines(hint) == io.BytesIO(data).readlines(hint), hint
    # Half read with readline, the rest by iteration.
    body.seek(0)
    expected = io.BytesIO(data)
    for _ in range(500):
        assert body.readline() == expected.readline()
    assert list(body) == list(expected)


def test_readline_when_the_body_spools_inside_the_line(tmp_path):
    """The line the application asks for starts in memory and ends past
    the threshold, where the body is in the file."""
    pieces = [b"short\n", b"a" * 600, b"b" * 600, b"c" * 600 + b"\nend"]
    body, _ = make(pieces, spool_threshold=1000, spool_dir=str(tmp_path))
    assert body.readline() == b"short\n"
    assert not body.spooled
    assert body.readline() == b"a" * 600 + b"b" * 600 + b"c" * 600 + b"\n"
    assert body.spooled
    assert body.readline() == b"end"
    assert body.readline() == b""


# -- spool_body false: a real pipe, nothing on disk ---------------------------

def _piped_input(data, spool_dir, threshold=1 << 20):
    import io as _io
    import threading
    read_end, write_end = os.pipe()

    def writer():
        with os.fdopen(write_end, "wb") as out:
            out.write(data)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    source = _io.FileIO(read_end, "rb")
    return Input(lambda: source.read(65536), threshold,
                 spool_dir=str(spool_dir), spool_body=False), source


def test_without_spooling_an_upload_arrives_intact_and_no_file_is_made(
        tmp_path):
    import hashlib
    data = hashlib.sha256(b"x").digest() * ((4 << 20) // 32 + 3)
    body, source = _piped_input(data, tmp_path)
    try:
        assert body.read(1000) == data[:1000]
        assert body.seek(0) == 0          # within the kept part
        assert body.readline(10) == data[:10]
        assert body.tell() == 10
        assert body.read() == data[10:]
        assert not body.spooled
        assert os.listdir(str(tmp_path)) == []
        with pytest.raises(io.UnsupportedOperation,
                           match="spool_body.*WSGI_SPOOL_BODY"):
            body.seek(0)
        with pytest.raises(io.UnsupportedOperation):
            body.seek((1 << 20) + 5)
    finally:
        source.close()
