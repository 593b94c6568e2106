"""The MSDeploy application package: a zip with ``Manifest.xml`` and
``Parameters.xml`` at the root and the application under one folder.

The zip is deterministic: entries sorted, each directory given its own
entry, fixed timestamps (1980-01-01) and MS-DOS attributes (the "made by"
system is MS-DOS, as Windows' own zip writer does), forward slashes only.
It is written to a temporary file beside the target and renamed into place
at the end, so a failure leaves nothing half-written.
"""

import logging
import os
import tempfile
import zipfile

from .errors import PackageError

__all__ = ["archive_name", "check_name", "write_package"]

log = logging.getLogger("iiswsgi.msdeploy.package")

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
DOS_DIRECTORY = 0x10
DOS_ARCHIVE = 0x20


def check_name(name):
    """``name`` as a zip entry name (``/``-separated); PackageError when it
    is absolute, has a drive, or climbs out with ``..``."""
    text = name.replace("\\", "/")
    parts = text.split("/")
    if (text.startswith("/") or (len(text) > 1 and text[1] == ":")
            or ".." in parts or not text.strip("/")):
        raise PackageError("refusing the package entry %r: names must be"
                           " relative, without '..' or a drive" % name)
    return "/".join(part for part in parts if part not in ("", "."))


def archive_name(*parts):
    return check_name("/".join(parts))


def _info(name, directory):
    info = zipfile.ZipInfo(name + ("/" if directory else ""), FIXED_TIME)
    info.create_system = 0
    info.external_attr = DOS_DIRECTORY if directory else DOS_ARCHIVE
    info.compress_type = (zipfile.ZIP_STORED if directory
                          else zipfile.ZIP_DEFLATED)
    return info


def write_package(target, files):
    """Write the zip ``target`` from ``files``, a mapping of entry name to
    the path of the file to store; the entry names written."""
    entries = {}
    for name, source in files.items():
        entry = check_name(name)
        if entry in entries and entries[entry] != source:
            raise PackageError("two files for the package entry %r: %s and"
                               " %s" % (entry, entries[entry], source))
        if not os.path.isfile(source):
            raise PackageError("%s (for the package entry %r) is not a file"
                               % (source, entry))
        entries[entry] = source
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
    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix="." + os.path.basename(target) + ".", suffix=".tmp",
        dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream, zipfile.ZipFile(
                stream, "w") as archive:
            for _, name, directory in names:
                info = _info(name, directory)
                if directory:
                    archive.writestr(info, b"")
                else:
                    with open(entries[name], "rb") as source:
                        archive.writestr(info, source.read(),
                                         zipfile.ZIP_DEFLATED, 9)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    log.info("wrote %s (%d files)", target, len(entries))
    return [key for key, _, _ in names]
