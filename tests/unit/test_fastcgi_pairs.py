"""decode_pairs, the gateway's hottest loop, against a plain reading of
the specification (section 3.4) written here: every length form, empty
names and values, pairs cut short or running past the end, non-ASCII
bytes, duplicates, and what IIS sends."""

import struct

import pytest

from iiswsgi.iis.variables import server_variables
from iiswsgi.protocol.fastcgi import ProtocolError, decode_pairs


def reference(data):
    """The pairs of ``data`` read one field at a time, as the
    specification says; ProtocolError when they do not fit."""
    pairs = {}
    pos = 0
    while pos < len(data):
        lengths = []
        for _ in range(2):
            if pos >= len(data):
                raise ProtocolError("cut short")
            if data[pos] < 128:
                lengths.append(data[pos])
                pos += 1
            else:
                if pos + 4 > len(data):
                    raise ProtocolError("cut short")
                lengths.append(
                    struct.unpack(">I", data[pos:pos + 4])[0] & 0x7FFFFFFF)
                pos += 4
        name_len, value_len = lengths
        if pos + name_len + value_len > len(data):
            raise ProtocolError("runs past")
        name = data[pos:pos + name_len].decode("latin-1")
        pos += name_len
        pairs[name] = data[pos:pos + value_len].decode("latin-1")
        pos += value_len
    return pairs


def short(length):
    return bytes((length,))


def long(length):
    """The four-byte form, also for lengths under 128 (allowed)."""
    return struct.pack(">I", length | 0x80000000)


def pair(name, value, name_form=None, value_form=None):
    def form(length, chosen):
        if chosen is None:
            chosen = short if length < 128 else long
        return chosen(length)
    return form(len(name), name_form) + form(len(value), value_form) + (
        name + value)


CASES = {
    "nothing": b"",
    "one pair": pair(b"A", b"b"),
    "empty value": pair(b"HTTPS_KEYSIZE", b""),
    "empty name": pair(b"", b"value"),
    "empty name and value": pair(b"", b""),
    "127 and 127": pair(b"N" * 127, b"v" * 127),
    "128-byte value": pair(b"HTTP_COOKIE", b"c" * 128),
    "128-byte name": pair(b"N" * 128, b"v"),
    "both long": pair(b"N" * 300, b"v" * 70000),
    "long form of short lengths": pair(b"AB", b"cd", long, long),
    "long name form, short value": pair(b"AB", b"cd", long, short),
    "short name form, long value": pair(b"AB", b"cd", short, long),
    "long pair between short ones": (
        pair(b"A", b"1") + pair(b"B" * 200, b"2" * 300) + pair(b"C", b"")),
    "non-ASCII bytes as latin-1": pair(b"HTTP_X_\xe9", b"caf\xc3\xa9\xff\x00"),
    "length bytes in the text": pair(b"\x05\x05", b"\x80\x00\x00\x01"),
    "duplicate names: the last wins": (
        pair(b"A", b"first") + pair(b"B", b"") + pair(b"A", b"last")),
}


@pytest.mark.parametrize("data", CASES.values(), ids=CASES.keys())
def test_decodes_as_the_specification_reads(data):
    expected = reference(data)
    decoded = decode_pairs(data)
    assert decoded == expected
    # The order is the order sent (a duplicate keeps its first place).
    assert list(decoded) == list(expected)


def test_duplicate_keeps_last_value():
    data = pair(b"A", b"first") + pair(b"A", b"")
    assert decode_pairs(data) == {"A": ""}


def test_iis_server_variables():
    variables = server_variables("/app/caf%C3%A9", "/app/caf\xe9", "C:\\site",
                                 remote_port="51234", complete=True)
    data = b"".join(pair(name.encode("latin-1"), value.encode("utf-8"))
                    for name, value in variables.items())
    decoded = decode_pairs(data)
    assert decoded == reference(data)
    assert len(decoded) == len(variables)


RUNS_PAST = {
    "name and value past the end": b"\x05\x05ab",
    "name past the end": b"\x05\x00ab",
    "value one byte short": pair(b"A", b"bc")[:-1],
    "second pair past the end": pair(b"A", b"b") + b"\x01\x02Nv",
    "long value past the end": long(3) + long(1000) + b"abc" + b"v" * 999,
}


@pytest.mark.parametrize("data", RUNS_PAST.values(), ids=RUNS_PAST.keys())
def test_pair_running_past_the_end(data):
    with pytest.raises(ProtocolError, match="runs past"):
        reference(data)
    with pytest.raises(ProtocolError, match="runs past the"):
        decode_pairs(data)


CUT = {
    "one length byte": b"\x05",
    "one length byte after a pair": pair(b"A", b"b") + b"\x01",
    "long name length cut": b"\x80\x00",
    "long value length cut": b"\x01\x80\x00\x00",
    "long name length, no value length": long(1),
    "long name length, value length cut": long(1) + b"\x80",
}


@pytest.mark.parametrize("data", CUT.values(), ids=CUT.keys())
def test_pair_cut_short(data):
    with pytest.raises(ProtocolError, match="cut short"):
        reference(data)
    with pytest.raises(ProtocolError, match="cut short"):
        decode_pairs(data)


def test_message_says_how_much_was_there():
    with pytest.raises(ProtocolError) as caught:
        decode_pairs(pair(b"A", b"b") + b"\x05\x05ab")
    assert str(caught.value) == (
        "name-value pair of 5+5 bytes runs past the 2 bytes sent")


def test_every_cut_of_a_request():
    """Every prefix of a block of pairs either decodes as the reference
    does or is refused as the reference refuses it."""
    data = (pair(b"REQUEST_METHOD", b"GET") + pair(b"HTTP_COOKIE", b"c" * 200)
            + pair(b"QUERY_STRING", b"") + pair(b"N" * 130, b"x"))
    for end in range(len(data) + 1):
        piece = data[:end]
        try:
            expected = reference(piece)
        except ProtocolError as error:
            with pytest.raises(ProtocolError, match=str(error)):
                decode_pairs(piece)
        else:
            assert decode_pairs(piece) == expected
