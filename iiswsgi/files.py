"""Writing a file so that readers see the old one or the whole new one,
never half of either: :func:`write_atomically`, the one place iiswsgi
replaces a file it builds (feeds, Web Deploy zips, Manifest.xml,
Parameters.xml, web.config, published copies).

The new content goes to a temporary file beside the target, with a name
no one else uses: created with ``O_EXCL`` (so an existing file or a
symbolic link planted under that name is never opened, let alone followed),
a random part (so two writers of one target, or a run that crashed before,
do not meet), flushed to disk, then renamed over the target with
:func:`os.replace`.  On any failure the temporary file is removed and the
target left as it was.

Its permissions are those of the file it replaces, or for a new file those
``open(path, "w")`` would give (``0o666`` less the umask): not the
``0o600`` of :func:`tempfile.mkstemp`, which would hide a published feed
from the web server serving it.
"""

import logging
import os
import secrets
import stat
from typing import Any, BinaryIO, Callable, Dict, Type, Union

__all__ = ["is_within", "read_toml", "write_atomically"]

log = logging.getLogger("iiswsgi.files")

Content = Union[bytes, bytearray, memoryview, str,
                Callable[[BinaryIO], object]]

_ATTEMPTS = 100
_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
          | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))


def is_within(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` or inside it (both absolute; case
    folded as the system does; False across drives)."""
    path, folder = os.path.normcase(path), os.path.normcase(folder)
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:                  # another drive
        return False


def _create_temporary(path: str) -> "tuple[int, str]":
    """A new, empty file beside ``path`` with a name of its own: (its
    descriptor, its path)."""
    folder, name = os.path.split(os.path.abspath(path))
    for _ in range(_ATTEMPTS):
        temporary = os.path.join(folder, ".%s.%s.tmp" % (
            name, secrets.token_hex(6)))
        try:
            return os.open(temporary, _FLAGS, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(
        "no free temporary name beside %s after %d tries: remove the"
        " .%s.*.tmp files there" % (path, _ATTEMPTS, name))


def _keep_mode(fd: int, path: str) -> None:
    """Give the file open as ``fd`` the permissions of ``path`` when that
    is a regular file (not through a link)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode) or not hasattr(os, "fchmod"):
        return
    try:
        os.fchmod(fd, stat.S_IMODE(info.st_mode))
    except OSError as error:
        log.debug("cannot keep the permissions of %s: %s", path, error)


def _sync_folder(folder: str) -> None:
    """Flush the rename in ``folder`` to disk, where the system can."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(path: str, content: Content,
                     encoding: str = "utf-8") -> str:
    """Replace the file ``path`` with ``content`` at once; ``path``.

    ``content`` is bytes, text (encoded with ``encoding``, line ends kept
    as they are) or a function called with the binary stream to write to.
    The folder must exist.  Whatever goes wrong (the writer raises, the
    disk is full, the rename is refused) the old file is left intact, no
    temporary file is left behind, and the error is raised."""
    if isinstance(content, str):
        content = content.encode(encoding)
    fd, temporary = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as stream:
            _keep_mode(stream.fileno(), path)
            if callable(content):
                content(stream)
            else:
                stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError as error:
            log.warning("cannot remove the temporary file %s: %s",
                        temporary, error)
        raise
    _sync_folder(os.path.dirname(os.path.abspath(path)))
    return path


def read_toml(path: str, error: Type[Exception]) -> Dict[str, Any]:
    """The TOML file at ``path`` (a pyproject.toml, a pylock.toml), parsed;
    ``error`` naming the file and the reason when it cannot be read or
    parsed."""
    try:
        import tomllib
    except ImportError:                 # Python 3.10
        import tomli as tomllib         # type: ignore[no-redef]
    try:
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except (OSError, ValueError) as problem:
        raise error("%s cannot be read: %s" % (path, problem)) from None
