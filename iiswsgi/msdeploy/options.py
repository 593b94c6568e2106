"""``MSDeploy.MSDeployProviderOptions``: a provider's settings, as Web Deploy
stores them in a package manifest.

The value is base64 of gzip of a .NET BinaryFormatter ([MS-NRBF]) stream
holding one ``Microsoft.Web.Deployment.DeploymentProviderOptions`` object:
``providerName`` and ``path`` (strings), ``names`` and ``values`` (string
arrays).  :func:`encode_provider_options` writes the records in the order
msdeploy.exe does; :func:`decode_provider_options` reads that and the other
shapes BinaryFormatter may use for the same object (member references and
null records inside the arrays).
"""

import base64
import binascii
import gzip
import struct
import zlib
from typing import (Iterable, List, Mapping, Optional, Tuple,
                    Union)

from .errors import PackageError

__all__ = ["LIBRARY", "CLASS_NAME", "MEMBERS", "ProviderOptionsError",
           "decode_provider_options", "encode_provider_options",
           "nrbf_payload"]

LIBRARY = ("Microsoft.web.deployment, Version=7.1.0.0, Culture=neutral,"
           " PublicKeyToken=31bf3856ad364e35")
CLASS_NAME = "Microsoft.Web.Deployment.DeploymentProviderOptions"
MEMBERS = ("providerName", "path", "names", "values")

# Record types ([MS-NRBF] 2.1.2.1).
HEADER = 0x00
CLASS_WITH_MEMBERS_AND_TYPES = 0x05
OBJECT_STRING = 0x06
MEMBER_REFERENCE = 0x09
OBJECT_NULL = 0x0A
MESSAGE_END = 0x0B
LIBRARY_RECORD = 0x0C
NULL_MULTIPLE_256 = 0x0D
NULL_MULTIPLE = 0x0E
ARRAY_SINGLE_STRING = 0x11

# Binary type enumeration: String, StringArray.
STRING, STRING_ARRAY = 1, 6

_INT = struct.Struct("<i")
_LIBRARY_ID = 2


class ProviderOptionsError(PackageError, ValueError):
    """The value is not a DeploymentProviderOptions blob: the message says
    at which byte and why."""


#: What a provider's settings may be given as: a mapping, or (name, value)
#: pairs kept in order.
ProviderSettings = Union[Mapping[str, str], Iterable[Tuple[str, str]]]


# -- writing ----------------------------------------------------------------

def _string(text):
    data = text.encode("utf-8")
    length = len(data)
    prefix = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            prefix.append(byte | 0x80)
        else:
            prefix.append(byte)
            break
    return bytes(prefix) + data


def _object_string(object_id, text):
    return bytes((OBJECT_STRING,)) + _INT.pack(object_id) + _string(text)


def nrbf_payload(provider: str, path: str,
                 settings: ProviderSettings = ()) -> bytes:
    """The uncompressed BinaryFormatter stream for these options."""
    items = list(settings.items() if hasattr(settings, "items")
                 else settings)
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("provider option names and values must be"
                            " strings: %r=%r" % (name, value))
    if not isinstance(provider, str) or not isinstance(path, str):
        raise TypeError("provider and path must be strings: %r, %r"
                        % (provider, path))
    out = bytearray()
    out += bytes((HEADER,)) + struct.pack("<iiii", 1, -1, 1, 0)
    out += bytes((LIBRARY_RECORD,)) + _INT.pack(_LIBRARY_ID) + _string(
        LIBRARY)
    out += bytes((CLASS_WITH_MEMBERS_AND_TYPES,)) + _INT.pack(1)
    out += _string(CLASS_NAME) + _INT.pack(len(MEMBERS))
    for member in MEMBERS:
        out += _string(member)
    out += bytes((STRING, STRING, STRING_ARRAY, STRING_ARRAY))
    out += _INT.pack(_LIBRARY_ID)
    out += _object_string(3, provider)
    out += _object_string(4, path)
    out += bytes((MEMBER_REFERENCE,)) + _INT.pack(5)
    out += bytes((MEMBER_REFERENCE,)) + _INT.pack(6)
    next_id = 7
    for array_id, column in ((5, 0), (6, 1)):
        out += bytes((ARRAY_SINGLE_STRING,)) + _INT.pack(array_id)
        out += _INT.pack(len(items))
        for item in items:
            out += _object_string(next_id, item[column])
            next_id += 1
    out += bytes((MESSAGE_END,))
    return bytes(out)


def encode_provider_options(provider: str, path: str,
                            settings: ProviderSettings = ()) -> str:
    """The ``MSDeploy.MSDeployProviderOptions`` attribute value for a
    ``provider`` element (``"runCommand"``) whose ``path`` attribute is
    ``path``, with ``settings`` (a mapping or (name, value) pairs, kept in
    order) such as ``{"waitAttempts": "10", "successReturnCodes": "0x0"}``.
    The gzip header is the one msdeploy.exe writes (mtime 0), so equal
    input gives equal output."""
    payload = nrbf_payload(provider, path, settings)
    return base64.b64encode(_gzip(payload)).decode("ascii")


# The header .NET's GZipStream writes: no name, mtime 0, XFL 4, OS 0.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x00"


def _gzip(data):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(data) + compressor.flush()
    return (_GZIP_HEADER + body
            + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF))


# -- reading ----------------------------------------------------------------

class _Reader:
    def __init__(self, data):
        self.data = data
        self.offset = 0

    def fail(self, message):
        raise ProviderOptionsError("byte %d: %s" % (self.offset, message))

    def byte(self):
        if self.offset >= len(self.data):
            self.fail("the stream ends too early")
        value = self.data[self.offset]
        self.offset += 1
        return value

    def take(self, count):
        if self.offset + count > len(self.data):
            self.fail("the stream ends too early (%d more bytes needed)"
                      % count)
        value = self.data[self.offset:self.offset + count]
        self.offset += count
        return value

    def int32(self):
        return _INT.unpack(self.take(4))[0]

    def string(self):
        length = shift = 0
        for _ in range(5):
            byte = self.byte()
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        else:
            self.fail("a string length longer than 5 bytes")
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError as error:
            self.fail("a string that is not UTF-8: %s" % error)


def _unpack(blob):
    if isinstance(blob, str):
        blob = blob.strip().encode("ascii", "replace")
    try:
        packed = base64.b64decode(blob, validate=True)
    except binascii.Error as error:
        raise ProviderOptionsError("not base64: %s" % error) from None
    try:
        return gzip.decompress(packed)
    except (OSError, EOFError, zlib.error) as error:
        raise ProviderOptionsError("not gzip data: %s" % error) from None


def decode_provider_options(
        blob: Union[str, bytes],
) -> Tuple[Optional[str], Optional[str],
           List[Tuple[Optional[str], Optional[str]]]]:
    """(provider, path, settings) from an ``MSDeploy.MSDeployProviderOptions``
    value; ``settings`` is a list of (name, value) pairs, in order (a null
    string reads as None)."""
    reader = _Reader(_unpack(blob))
    objects = {}
    fields = None
    arrays = {}

    while True:
        kind = reader.byte()
        if kind == HEADER:
            reader.take(16)
        elif kind == LIBRARY_RECORD:
            reader.int32()
            reader.string()
        elif kind == CLASS_WITH_MEMBERS_AND_TYPES:
            fields = _read_class(reader, objects, arrays)
        elif kind == ARRAY_SINGLE_STRING:
            array_id = reader.int32()
            arrays[array_id] = _read_array(reader, objects, reader.int32())
        elif kind == OBJECT_STRING:
            object_id = reader.int32()
            objects[object_id] = reader.string()
        elif kind == MESSAGE_END:
            break
        else:
            reader.offset -= 1
            reader.fail("unexpected record type 0x%02x" % kind)
    if fields is None:
        raise ProviderOptionsError("no %s object in the stream" % CLASS_NAME)

    def resolve(value, what):
        if isinstance(value, _Ref):
            if value.id in arrays:
                return [resolve(item, what) for item in arrays[value.id]]
            if value.id in objects:
                return objects[value.id]
            raise ProviderOptionsError("%s refers to object %d, which the"
                                       " stream does not hold"
                                       % (what, value.id))
        return value

    provider = resolve(fields["providerName"], "providerName")
    path = resolve(fields["path"], "path")
    names = resolve(fields["names"], "names") or []
    values = resolve(fields["values"], "values") or []
    if len(names) != len(values):
        raise ProviderOptionsError("%d names but %d values"
                                   % (len(names), len(values)))
    return provider, path, list(zip(names, values))


class _Ref:
    def __init__(self, object_id):
        self.id = object_id


def _read_value(reader, objects):
    """One member or array item: a string, a reference, or None."""
    kind = reader.byte()
    if kind == OBJECT_STRING:
        object_id = reader.int32()
        objects[object_id] = reader.string()
        return objects[object_id]
    if kind == MEMBER_REFERENCE:
        return _Ref(reader.int32())
    if kind == OBJECT_NULL:
        return None
    reader.offset -= 1
    reader.fail("expected a string, a reference or null, found record"
                " type 0x%02x" % kind)


def _read_class(reader, objects, arrays):
    reader.int32()
    name = reader.string()
    if name != CLASS_NAME:
        reader.fail("the object is a %s, not a %s" % (name, CLASS_NAME))
    count = reader.int32()
    members = [reader.string() for _ in range(count)]
    types = [reader.byte() for _ in range(count)]
    for member_type in types:
        if member_type not in (STRING, STRING_ARRAY):
            reader.fail("member type %d is not String or StringArray"
                        % member_type)
    reader.int32()  # library id
    if set(members) != set(MEMBERS):
        reader.fail("members %s, expected %s" % (members, list(MEMBERS)))
    return {member: _read_value(reader, objects) for member in members}


def _read_array(reader, objects, length):
    if length < 0:
        reader.fail("an array of negative length %d" % length)
    items = []
    while len(items) < length:
        kind = reader.byte()
        if kind == NULL_MULTIPLE_256:
            items.extend([None] * reader.byte())
        elif kind == NULL_MULTIPLE:
            items.extend([None] * reader.int32())
        else:
            reader.offset -= 1
            value = _read_value(reader, objects)
            items.append(value if not isinstance(value, _Ref)
                         else objects.get(value.id, value))
    if len(items) > length:
        reader.fail("null records run past the end of an array of %d"
                    % length)
    return items
