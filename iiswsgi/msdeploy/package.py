"""The MSDeploy application package: a zip with ``Manifest.xml`` and
``Parameters.xml`` at the root and the application under one folder.

The zip is deterministic: entries sorted, each directory given its own
entry, fixed timestamps (1980-01-01) and MS-DOS attributes (the "made by"
system is MS-DOS, as Windows' own zip writer does), forward slashes only.
It is written to a temporary file beside the target and renamed into place
at the end, so a failure leaves nothing half-written.

Nothing leaves its folder, either way: entry names that are absolute, carry
a drive, or climb with ``..`` are refused when writing, and so are files
reached through a symbolic link (or junction) that points outside the
project; :func:`extract_package` refuses such members, backslashes and
links too, names Windows changes or takes for devices, names differing
only in case, zip bombs and more than 2 GiB in all, and never writes
through a link (symbolic or hard) already in the target.
"""

import logging
import os
import re
import stat
import struct
import zipfile
import zlib
from typing import BinaryIO, Dict, List, Mapping, Optional

from ..files import is_within, write_atomically
from .errors import PackageError

__all__ = ["MAX_EXTRACT_SIZE", "MAX_RATIO", "archive_name", "check_member",
           "check_name", "extract_package", "is_within", "write_package"]

log = logging.getLogger("iiswsgi.msdeploy.package")

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
DOS_DIRECTORY = 0x10
DOS_ARCHIVE = 0x20


# Control characters; and a name part of dots and spaces only (beyond
# "."), which Windows trims to ".." or to nothing.
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _unsafe(text):
    """Why the ``/``-separated ``text`` would leave its folder, or None."""
    parts = text.split("/")
    if text.startswith("/"):
        return "it is absolute"
    if ":" in text:
        return "it has a drive or a ':' (a Windows stream or device name)"
    if _CONTROL.search(text):
        return "it has a control character"
    if any(part.strip(". ") == "" and part not in ("", ".") for part in parts):
        return ("it has a '..' part (or one of dots and spaces only,"
                " which Windows reads as '..' or as nothing)")
    if not text.strip("/"):
        return "it is empty"
    return None


def _plain(text):
    """True for a name that is certainly safe and already as
    :func:`check_name` gives it back: relative, no backslash, drive or
    control character, and no part that is empty or starts with a dot or
    a space (so none of dots and spaces only); most names are."""
    return bool(text) and not (
        "\\" in text or ":" in text or "//" in text or "/." in text
        or "/ " in text or text.startswith(("/", ".", " "))
        or text.endswith("/") or _CONTROL.search(text))


def check_name(name: str) -> str:
    """``name`` as a zip entry name (``/``-separated; ``\\`` is taken as
    a separator); PackageError when it is absolute, has a drive, or climbs
    out with ``..``."""
    if _plain(name):
        return name             # as the general case would give it back
    text = name.replace("\\", "/")
    problem = _unsafe(text)
    if problem:
        raise PackageError("refusing the package entry %r: %s; names must"
                           " be relative, without '..' or a drive"
                           % (name, problem))
    return "/".join(part for part in parts_of(text))


def parts_of(text: str) -> List[str]:
    return [part for part in text.split("/") if part not in ("", ".")]


def check_member(name: str) -> List[str]:
    """The parts of a zip member's name, for extraction; PackageError when
    it is absolute, has a drive, climbs out with ``..`` or holds a
    backslash (a separator on Windows, so ``a\\..\\..\\x`` climbs
    there)."""
    problem = "it holds a backslash" if "\\" in name else _unsafe(name)
    if problem:
        raise PackageError("refusing the zip member %r: %s" % (name, problem))
    return parts_of(name)


class _Sources:
    """Refuses a file to pack that is not one, or that is reached through
    a link pointing outside ``root``; for many files of few folders: a
    plain file
    (not a link) is inside ``root``, and reached through no link pointing
    out of it, exactly when its folder is; so each folder's verdict is
    worked out once (one lstat a file, not a realpath's lstat per part of
    its path)."""

    def __init__(self, root):
        self.root = root
        self._real_root = None
        self._folders = {}

    def real_root(self):
        if self._real_root is None:
            self._real_root = os.path.realpath(self.root)
        return self._real_root

    def check(self, source: str, entry: str) -> int:
        """Refuse ``source`` (PackageError) or give its size."""
        try:
            info = os.lstat(source)
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            # A link, a folder, something else, or nothing: the whole
            # check, with the link followed.
            self._check_slowly(source, entry, info.st_mode if info else 0)
            return os.stat(source).st_size
        folder, _ = os.path.split(os.path.abspath(source))
        verdict = self._folders.get(folder)
        if verdict is None:
            verdict = self._folders[folder] = self._folder(folder)
        if verdict == "inside":
            return info.st_size
        where = "%s (for the package entry %r)" % (source, entry)
        if verdict == "outside":
            if not os.path.isabs(source):
                raise PackageError("refusing %s: it is outside the project"
                                   " folder %s" % (where, self.root))
            return info.st_size
        raise PackageError(
            "refusing %s: it is, or is in a folder that is, a symbolic link"
            " pointing outside the project folder %s (to %s)"
            % (where, self.root, os.path.realpath(source)))

    def _folder(self, folder):
        """"inside" the project (and really), "outside" it, or "escapes"
        (inside, but a link in its path points out)."""
        if not is_within(folder, self.root):
            return "outside"
        if is_within(os.path.realpath(folder), self.real_root()):
            return "inside"
        return "escapes"

    def _check_slowly(self, source, entry, mode):
        where = "%s (for the package entry %r)" % (source, entry)
        if not os.path.isfile(source):
            raise PackageError("%s is not a file" % where)
        if not is_within(os.path.abspath(source), self.root):
            # Given by an absolute path (a file the build wrote
            # elsewhere): it must at least not be a link.  A relative one
            # must not climb.
            if not os.path.isabs(source):
                raise PackageError("refusing %s: it is outside the project"
                                   " folder %s" % (where, self.root))
            if stat.S_ISLNK(mode):
                raise PackageError("refusing %s: it is a symbolic link"
                                   % where)
            return
        real = os.path.realpath(source)
        if not is_within(real, self.real_root()):
            raise PackageError(
                "refusing %s: it is, or is in a folder that is, a symbolic"
                " link pointing outside the project folder %s (to %s)"
                % (where, self.root, real))


def archive_name(*parts: str) -> str:
    return check_name("/".join(parts))


def _info(name, directory):
    info = zipfile.ZipInfo(name + ("/" if directory else ""), FIXED_TIME)
    info.create_system = 0
    info.external_attr = DOS_DIRECTORY if directory else DOS_ARCHIVE
    info.compress_type = (zipfile.ZIP_STORED if directory
                          else zipfile.ZIP_DEFLATED)
    return info


# The zip's records (APPNOTE.TXT 4.3.7, 4.3.12, 4.3.16): local header,
# central directory header, end of central directory.
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_DOS_DATE = (FIXED_TIME[0] - 1980) << 9 | FIXED_TIME[1] << 5 | FIXED_TIME[2]
_DOS_TIME = FIXED_TIME[3] << 11 | FIXED_TIME[4] << 5 | FIXED_TIME[5] // 2
_VERSION = 20           # 2.0: folders and deflate; made by MS-DOS (0)
_UTF8_NAME = 0x800
# Beyond these the zip needs Zip64 records, which zipfile writes: the
# total of the files to pack leaves room for deflate's worst growth and
# the headers.
_MAX_ENTRIES = 0xFFFF
_MAX_SIZE = 0xF0000000


def _write_plain_zip(stream: BinaryIO, names: List[tuple],
                     entries: Dict[str, str],
                     known: Mapping[str, bytes]) -> None:
    """The zip of ``names`` (sorted (key, name, is folder)) to ``stream``,
    what zipfile would write for the same ZipInfo (:func:`_info`) at
    zlib's default level, as ``python -m zipfile -c`` uses, but each
    entry written once: zipfile writes a header, the data, then seeks
    back to fill the header in, which for small files cost more than the
    compression."""
    offset = 0
    central = []
    for _, name, directory in names:
        try:
            raw, flags = name.encode("ascii"), 0
        except UnicodeEncodeError:
            raw, flags = name.encode("utf-8"), _UTF8_NAME
        if directory:
            raw += b"/"
            data, crc, size = b"", 0, 0
            method, attributes = zipfile.ZIP_STORED, DOS_DIRECTORY
        else:
            content = known.get(name)
            if content is None:
                with open(entries[name], "rb") as source:
                    content = source.read()
            crc, size = zlib.crc32(content), len(content)
            deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION,
                                       zlib.DEFLATED, -zlib.MAX_WBITS)
            data = deflate.compress(content) + deflate.flush()
            method, attributes = zipfile.ZIP_DEFLATED, DOS_ARCHIVE
        if offset + len(data) >= 0xFFFFFFFF or size >= 0xFFFFFFFF:
            raise PackageError("%s grew past 4 GiB while it was packed"
                               % entries[name])
        stream.write(_LOCAL.pack(b"PK\x03\x04", _VERSION, flags, method,
                                 _DOS_TIME, _DOS_DATE, crc, len(data), size,
                                 len(raw), 0) + raw)
        stream.write(data)
        central.append(_CENTRAL.pack(
            b"PK\x01\x02", _VERSION, _VERSION, flags, method, _DOS_TIME,
            _DOS_DATE, crc, len(data), size, len(raw), 0, 0, 0, 0,
            attributes, offset) + raw)
        offset += _LOCAL.size + len(raw) + len(data)
    directory = b"".join(central)
    stream.write(directory)
    stream.write(_END.pack(b"PK\x05\x06", 0, 0, len(central), len(central),
                           len(directory), offset, 0))


def write_package(target: str, files: Mapping[str, str],
                  root: Optional[str] = None,
                  contents: Optional[Mapping[str, bytes]] = None
                  ) -> List[str]:
    """Write the zip ``target`` from ``files``, a mapping of entry name to
    the path of the file to store; the entry names written.  ``contents``
    may hold what some of those files were read as (by the same names):
    that is packed without reading them again, after the same checks.

    ``root`` is the project folder (default: the current one).  A file in
    it must not be reached through a symbolic link pointing outside it;
    a relative path must not climb out of it; a file elsewhere (given by
    an absolute path) must not itself be a link."""
    root = os.path.abspath(root or os.curdir)
    entries = {}
    known: Dict[str, bytes] = {}
    sources = _Sources(root)
    total = 0
    for name, source in files.items():
        entry = check_name(name)
        if entry in entries and entries[entry] != source:
            raise PackageError("two files for the package entry %r: %s and"
                               " %s" % (entry, entries[entry], source))
        total += sources.check(source, entry)
        entries[entry] = source
        if contents and name in contents:
            known[entry] = contents[name]
    directories = set()
    for entry in entries:
        parts = entry.split("/")[:-1]
        for index in range(1, len(parts) + 1):
            directories.add("/".join(parts[:index]))
    clash = directories.intersection(entries)
    if clash:
        raise PackageError("%s would be both a file and a folder in the"
                           " package" % sorted(clash)[0])
    names = sorted([(d + "/", d, True) for d in directories]
                   + [(e, e, False) for e in entries])
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)

    def write(stream):
        if len(names) < _MAX_ENTRIES and total < _MAX_SIZE:
            _write_plain_zip(stream, names, entries, known)
            return
        with zipfile.ZipFile(stream, "w") as archive:     # needs Zip64
            for _, name, directory in names:
                info = _info(name, directory)
                if directory:
                    archive.writestr(info, b"")
                elif name in known:
                    archive.writestr(info, known[name])
                else:
                    with open(entries[name], "rb") as source:
                        archive.writestr(info, source.read())
    write_atomically(target, write)
    log.info("wrote %s (%d files)", target, len(entries))
    return [key for key, _, _ in names]


def _is_link_member(info):
    # Unix zip tools keep the file's mode in the high 16 bits.
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


#: extract_package's limits: the total size of the files it writes, and
#: the compression ratio of a member larger than RATIO_FLOOR.
MAX_EXTRACT_SIZE = 2 << 30
MAX_RATIO = 200
RATIO_FLOOR = 1 << 20

_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]"
                       r"|lpt[0-9\u00b9\u00b2\u00b3]|conin\$|conout\$)"
                       r"(\s*\..*)?\Z", re.IGNORECASE)
_WINDOWS_INVALID = re.compile(r'[<>"|?*]')


def _windows_problem(parts):
    """Why Windows would not keep the member named ``parts`` as it is
    named (it merges it with another name, or takes it for a device), or
    None."""
    for part in parts:
        if part != part.rstrip(". "):
            return ("%r ends in a dot or a space, which Windows drops (so"
                    " it would become another file)" % part)
        if _RESERVED.match(part.strip()):
            return "%r is a Windows device name (CON, NUL, COM1 ...)" % part
        if _WINDOWS_INVALID.search(part):
            return "%r has a character Windows refuses in names" % part
    return None


def _remove_existing(path, member):
    """Remove the plain file ``path`` before writing ``member`` there, so
    that a hard link to it elsewhere keeps its content; PackageError for a
    link or a folder."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise PackageError("refusing the zip member %r: %s is there and is"
                           " not a plain file (a link or a folder)"
                           % (member, path))
    os.unlink(path)


_WRITE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL
                | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0))


def extract_package(archive: str, target: str, prefix: str = "",
                    max_size: int = MAX_EXTRACT_SIZE,
                    max_ratio: float = MAX_RATIO) -> List[str]:
    """Extract the members of the zip ``archive`` whose names start with
    ``prefix`` (a folder, such as ``"App/"``, which is dropped) into
    ``target``; the paths written.

    PackageError, before anything is written, for a member that is absolute,
    has a drive or a ``:`` stream, climbs out with ``..``, holds a
    backslash, is a symbolic link, has a name Windows changes or takes for
    a device (a trailing dot or space, ``CON``, ``NUL.txt``, ``COM1`` ...),
    differs only in case from another, or is larger than ``max_ratio``
    times its compressed size (when over 1 MiB); when the files would
    total more than ``max_size`` bytes (default 2 GiB); and for a member
    that would be written through a link already in ``target``.  A file
    already there is replaced, never written through (a hard link to it
    keeps its content)."""
    target = os.path.abspath(target)
    with zipfile.ZipFile(archive) as zipped:
        members, seen, total = [], {}, 0
        for info in zipped.infolist():
            parts = check_member(info.filename)
            if _is_link_member(info):
                raise PackageError("refusing the zip member %r: it is a"
                                   " symbolic link" % info.filename)
            problem = _windows_problem(parts)
            if problem:
                raise PackageError("refusing the zip member %r: %s"
                                   % (info.filename, problem))
            for index in range(1, len(parts) + 1):
                name = "/".join(parts[:index])
                other = seen.setdefault(name.casefold(), name)
                if other != name:
                    raise PackageError(
                        "refusing the zip member %r: %r differs only in"
                        " case from %r, and Windows keeps one file for both"
                        % (info.filename, name, other))
            if not info.filename.startswith(prefix):
                continue
            parts = check_member(info.filename[len(prefix):]) if (
                info.filename[len(prefix):].strip("/")) else []
            if not parts:
                continue
            if not info.is_dir():
                if info.file_size > RATIO_FLOOR and (
                        info.file_size > max_ratio * max(
                            info.compress_size, 1)):
                    raise PackageError(
                        "refusing the zip member %r: %d bytes from %d"
                        " compressed is more than %g:1 (a zip bomb?)"
                        % (info.filename, info.file_size,
                           info.compress_size, max_ratio))
                total += info.file_size
                if total > max_size:
                    raise PackageError(
                        "refusing %s: its files under %r would total more"
                        " than %d bytes (the limit; pass a larger max_size"
                        " if that is really so)" % (archive, prefix,
                                                    max_size))
            members.append((info, parts))
        os.makedirs(target, exist_ok=True)
        real_target = os.path.realpath(target)
        written, count = [], 0
        for info, parts in members:
            path = os.path.join(target, *parts)
            if info.is_dir():
                folder = path
            else:
                folder = os.path.dirname(path)
            os.makedirs(folder, exist_ok=True)
            if not is_within(os.path.realpath(folder), real_target) or (
                    os.path.islink(path)):
                raise PackageError(
                    "refusing the zip member %r: %s is, or is in, a symbolic"
                    " link" % (info.filename, path))
            if info.is_dir():
                continue
            _remove_existing(path, info.filename)
            with zipped.open(info) as source, os.fdopen(
                    os.open(path, _WRITE_FLAGS, 0o666), "wb") as output:
                while True:
                    block = source.read(1 << 16)
                    if not block:
                        break
                    count += len(block)
                    if count > max_size:
                        raise PackageError(
                            "refusing %s: more than %d bytes came out of it"
                            % (archive, max_size))
                    output.write(block)
            written.append(path)
    log.info("extracted %d files from %s into %s", len(written), archive,
             target)
    return written
