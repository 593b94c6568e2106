"""The MSDeployProviderOptions codec, against byte vectors built here by
hand from the [MS-NRBF] layout the reference describes (not with the
encoder)."""

import base64
import gzip
import struct

import pytest

from iiswsgi.msdeploy import decode_provider_options, encode_provider_options
from iiswsgi.msdeploy.options import ProviderOptionsError, nrbf_payload

LIB = (b"Microsoft.web.deployment, Version=7.1.0.0, Culture=neutral,"
       b" PublicKeyToken=31bf3856ad364e35")
CLS = b"Microsoft.Web.Deployment.DeploymentProviderOptions"


def i32(n):
    return struct.pack("<i", n)


def lps(raw):
    """A LengthPrefixedString, the 7-bit length written out by hand."""
    n = len(raw)
    if n < 0x80:
        prefix = bytes([n])
    elif n < 0x4000:
        prefix = bytes([0x80 | (n & 0x7F), n >> 7])
    else:
        prefix = bytes([0x80 | (n & 0x7F), 0x80 | ((n >> 7) & 0x7F),
                        n >> 14])
    return prefix + raw


def head():
    return (b"\x00" + i32(1) + i32(-1) + i32(1) + i32(0)
            + b"\x0c" + i32(2) + lps(LIB)
            + b"\x05" + i32(1) + lps(CLS) + i32(4)
            + lps(b"providerName") + lps(b"path") + lps(b"names")
            + lps(b"values") + b"\x01\x01\x06\x06" + i32(2))


def vector(provider, path, names, values):
    out = head() + b"\x06" + i32(3) + lps(provider) + b"\x06" + i32(4) \
        + lps(path) + b"\x09" + i32(5) + b"\x09" + i32(6)
    next_id = 7
    for array_id, items in ((5, names), (6, values)):
        out += b"\x11" + i32(array_id) + i32(len(items))
        for item in items:
            out += b"\x06" + i32(next_id) + lps(item)
            next_id += 1
    return out + b"\x0b"


def test_one_setting_matches_hand_built_bytes():
    expected = vector(b"runCommand",
                      b"C:\\Python27\\python.exe -u C:\\Python27\\Scripts"
                      b"\\iiswsgi_deploy-script.py",
                      [b"successReturnCodes"], [b"0x0"])
    blob = encode_provider_options(
        "runCommand", "C:\\Python27\\python.exe -u C:\\Python27\\Scripts"
        "\\iiswsgi_deploy-script.py", {"successReturnCodes": "0x0"})
    raw = base64.b64decode(blob)
    assert raw[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x00"
    assert blob.startswith("H4sIAAAAAAAEA")
    assert gzip.decompress(raw) == expected


def test_no_settings_and_two_settings():
    assert nrbf_payload("contentPath", "C:\\site", {}) == vector(
        b"contentPath", b"C:\\site", [], [])
    assert nrbf_payload("setAcl", "d", [
        ("setAclUser", "anonymousAuthenticationUser"),
        ("setAclResourceType", "Directory")]) == vector(
        b"setAcl", b"d", [b"setAclUser", b"setAclResourceType"],
        [b"anonymousAuthenticationUser", b"Directory"])


@pytest.mark.parametrize("length", [127, 128, 200, 16383, 16384, 20000])
def test_long_and_non_ascii_strings(length):
    path = ("é" * length)[:length]          # 2 bytes a character
    name = "n" * length
    value = "ü€" * 70
    expected = vector(b"runCommand", path.encode(), [name.encode()],
                      [value.encode()])
    assert nrbf_payload("runCommand", path, {name: value}) == expected
    assert decode_provider_options(encode_provider_options(
        "runCommand", path, {name: value})) == ("runCommand", path,
                                                [(name, value)])


def test_length_prefix_bytes():
    payload = nrbf_payload("runCommand", "x" * 128, {})
    assert b"\x06" + i32(4) + b"\x80\x01" + b"x" * 128 in payload
    payload = nrbf_payload("runCommand", "x" * 300, {})
    assert b"\x06" + i32(4) + b"\xac\x02" + b"x" * 300 in payload


def test_deterministic():
    first = encode_provider_options("runCommand", "a", {"w": "1"})
    assert first == encode_provider_options("runCommand", "a", {"w": "1"})


def _blob(raw):
    return base64.b64encode(gzip.compress(raw, mtime=0)).decode()


def test_decode_member_references_and_nulls():
    # Values repeat a name by reference and hold nulls (0x0A, 0x0D, 0x0E).
    raw = (head() + b"\x06" + i32(3) + lps(b"runCommand") + b"\x06"
           + i32(4) + lps(b"cmd") + b"\x09" + i32(5) + b"\x09" + i32(6)
           + b"\x11" + i32(5) + i32(5) + b"\x06" + i32(7) + lps(b"a")
           + b"\x06" + i32(8) + lps(b"b") + b"\x06" + i32(9) + lps(b"c")
           + b"\x06" + i32(10) + lps(b"d") + b"\x06" + i32(11) + lps(b"e")
           + b"\x11" + i32(6) + i32(5) + b"\x09" + i32(7) + b"\x0a"
           + b"\x0d\x02" + b"\x0e" + i32(1) + b"\x0b")
    assert decode_provider_options(_blob(raw)) == ("runCommand", "cmd", [
        ("a", "a"), ("b", None), ("c", None), ("d", None), ("e", None)])


def test_decode_null_path_and_python_gzip():
    raw = (head() + b"\x06" + i32(3) + lps(b"iisApp") + b"\x0a"
           + b"\x09" + i32(5) + b"\x09" + i32(6) + b"\x11" + i32(5) + i32(0)
           + b"\x11" + i32(6) + i32(0) + b"\x0b")
    assert decode_provider_options(_blob(raw)) == ("iisApp", None, [])


@pytest.mark.parametrize("blob, message", [
    ("not base64!", "not base64"),
    (base64.b64encode(b"plain").decode(), "not gzip"),
    (_blob(b"\x00" + b"\x00" * 16 + b"\x42"), "record type 0x42"),
    (_blob(b"\x00" + b"\x00" * 3), "ends too early"),
])
def test_decode_errors(blob, message):
    with pytest.raises(ProviderOptionsError, match=message):
        decode_provider_options(blob)
