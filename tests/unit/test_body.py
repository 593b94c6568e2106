"""wsgi.input: streaming, spooling, seeking and limits."""

import io

import pytest

from iiswsgi.body import Input, RequestTooLarge


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
