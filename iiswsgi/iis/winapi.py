"""Every Windows-only call iiswsgi makes.

Imported only on Windows, and only when needed, so that nothing else in
the package touches msvcrt, ctypes.windll or _winapi.
"""

import ctypes
import logging
import msvcrt
import os
import threading
import time
from ctypes import wintypes
from typing import Callable, Optional, Union

import _winapi

__all__ = ["DirectoryChanges", "NamedPipe", "interrupt_thread",
           "is_disconnect_error", "is_remote_path", "prepare_pipe",
           "socket_handle", "stdin_kind", "subtree_notifications",
           "watch_shutdown_event"]

log = logging.getLogger(__name__)

_FILE_TYPE_DISK = 0x0001
_FILE_TYPE_CHAR = 0x0002
_FILE_TYPE_PIPE = 0x0003

_ERROR_BROKEN_PIPE = 109
_ERROR_NO_DATA = 232
_ERROR_PIPE_NOT_CONNECTED = 233
_ERROR_MORE_DATA = 234
_ERROR_PIPE_CONNECTED = 535
_ERROR_PIPE_LISTENING = 536
_ERROR_OPERATION_ABORTED = 995

_DISCONNECTED = (_ERROR_BROKEN_PIPE, _ERROR_NO_DATA,
                 _ERROR_PIPE_NOT_CONNECTED, _ERROR_OPERATION_ABORTED)

_THREAD_TERMINATE = 0x0001
_DUPLICATE_SAME_ACCESS = 0x0002
_WAIT_OBJECT_0 = 0

_kernel32 = None


def _kernel():
    global _kernel32
    if _kernel32 is None:
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle, dword, boolean = wintypes.HANDLE, wintypes.DWORD, wintypes.BOOL
        for name, argtypes, restype in (
                ("GetFileType", [handle], dword),
                ("GetNamedPipeInfo", [handle] + [ctypes.c_void_p] * 4,
                 boolean),
                ("ConnectNamedPipe", [handle, ctypes.c_void_p], boolean),
                ("DisconnectNamedPipe", [handle], boolean),
                ("FlushFileBuffers", [handle], boolean),
                ("OpenThread", [dword, boolean, dword], handle),
                ("CancelSynchronousIo", [handle], boolean),
                ("CancelIoEx", [handle, ctypes.c_void_p], boolean),
                ("CreateFileW", [wintypes.LPCWSTR, dword, dword,
                                 ctypes.c_void_p, dword, dword, handle],
                 handle),
                ("ReadDirectoryChangesW", [
                    handle, ctypes.c_void_p, dword, boolean, dword,
                    ctypes.POINTER(dword), ctypes.c_void_p, ctypes.c_void_p],
                 boolean),
                ("GetDriveTypeW", [wintypes.LPCWSTR], wintypes.UINT),
                ("CloseHandle", [handle], boolean)):
            function = getattr(kernel32, name)
            function.argtypes = argtypes
            function.restype = restype
        _kernel32 = kernel32
    return _kernel32


def _check(ok):
    if not ok:
        error = ctypes.get_last_error()
        raise OSError(None, ctypes.FormatError(error), None, error)


def _handle(fd):
    try:
        return msvcrt.get_osfhandle(fd)
    except OSError:
        return None


def prepare_pipe(fd: int) -> None:
    """Binary mode on ``fd``, so the C runtime translates no line ends."""
    msvcrt.setmode(fd, os.O_BINARY)


def stdin_kind(fd: int) -> str:
    """``"pipe"``, ``"socket"``, ``"char"``, ``"disk"``, ``"invalid"`` or
    ``"unknown"``: what the handle behind ``fd`` is."""
    handle = _handle(fd)
    if handle is None or handle in (0, -1, 0xFFFFFFFFFFFFFFFF):
        return "invalid"
    kernel32 = _kernel()
    file_type = kernel32.GetFileType(handle)
    if file_type == _FILE_TYPE_PIPE:
        # Sockets report themselves as pipes too; only a real pipe answers
        # GetNamedPipeInfo.
        if kernel32.GetNamedPipeInfo(handle, None, None, None, None):
            return "pipe"
        return "socket"
    return {_FILE_TYPE_CHAR: "char", _FILE_TYPE_DISK: "disk"}.get(
        file_type, "unknown")


def socket_handle(fd: int) -> int:
    """The SOCKET behind ``fd``, for ``socket.socket(fileno=...)``."""
    return msvcrt.get_osfhandle(fd)


def is_disconnect_error(error: OSError) -> bool:
    """True when ``error`` means the other end of a pipe went away, or the
    read was cancelled by :func:`interrupt_thread`."""
    return getattr(error, "winerror", None) in _DISCONNECTED


class NamedPipe:
    """The server end of the IIS named pipe, given as standard input.

    The handle is duplicated twice, into a read end and a write end, and
    used with ReadFile and WriteFile, which report Windows' own errors
    (the C runtime would fold them into errno values).
    """

    def __init__(self, fd: int) -> None:
        prepare_pipe(fd)
        self.handle = msvcrt.get_osfhandle(fd)
        process = _winapi.GetCurrentProcess()
        self._reader = _winapi.DuplicateHandle(
            process, self.handle, process, 0, False, _DUPLICATE_SAME_ACCESS)
        self._writer = _winapi.DuplicateHandle(
            process, self.handle, process, 0, False, _DUPLICATE_SAME_ACCESS)
        self._woken = False

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` once the web server has gone."""
        while True:
            try:
                data, error = _winapi.ReadFile(self._reader, size)
            except OSError as failure:
                if failure.winerror == _ERROR_PIPE_LISTENING:
                    # No client yet: wait for the web server to connect.
                    self.connect()
                    continue
                if failure.winerror in _DISCONNECTED:
                    return b""
                raise
            if data or error == _ERROR_MORE_DATA:
                return data
            return b""

    def pending(self) -> bool:
        """True when a read would not block: bytes are waiting, or the
        web server has gone (PeekNamedPipe, which never waits).  False
        when that cannot be told."""
        try:
            available, _ = _winapi.PeekNamedPipe(self._reader)
        except OSError as failure:
            # Gone: the read that follows returns end of file at once.
            return failure.winerror in _DISCONNECTED
        return available > 0

    def wait_readable(self, seconds: float) -> bool:
        """True once a read would not block (see :meth:`pending`), waiting
        at most ``seconds``; False after that, or at once after
        :meth:`wake`.

        The pipe IIS gives is opened by IIS, for synchronous I/O (a
        ReadFile on it cannot be given a timeout, and cancelling one from
        another thread races with what comes next), so this looks with
        PeekNamedPipe: at once, then at intervals growing from 0.5 ms to
        20 ms."""
        self._woken = False
        if self._peek_readable():
            return True
        deadline = time.monotonic() + seconds
        pause = 0.0005
        while not self._woken:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(pause, left))
            if self._peek_readable():
                return True
            pause = min(pause * 2, 0.02)
        return False

    def _peek_readable(self):
        try:
            available, _ = _winapi.PeekNamedPipe(self._reader)
        except OSError as failure:
            # Gone, or no client yet: the read tells, at once or once one
            # connects.
            return failure.winerror in _DISCONNECTED + (
                _ERROR_PIPE_LISTENING,)
        return available > 0

    def wake(self) -> None:
        """End a :meth:`wait_readable` in another thread."""
        self._woken = True

    def write(self, data: bytes) -> None:
        """Write all of ``data``; OSError (winerror set) on failure."""
        view = memoryview(data)
        while view:
            written, _ = _winapi.WriteFile(self._writer, view)
            view = view[written:]

    def connect(self) -> None:
        """Wait for a client (ConnectNamedPipe); a client that connected
        first is fine."""
        if not _kernel().ConnectNamedPipe(self.handle, None):
            error = ctypes.get_last_error()
            if error != _ERROR_PIPE_CONNECTED:
                raise OSError(None, ctypes.FormatError(error), None, error)

    def reconnect(self) -> None:
        """End this client's connection, as PHP's FastCGI does under IIS,
        and wait for the next one."""
        kernel32 = _kernel()
        kernel32.FlushFileBuffers(self.handle)
        _check(kernel32.DisconnectNamedPipe(self.handle))
        self.connect()

    def close(self) -> None:
        for handle in (self._reader, self._writer):
            try:
                _winapi.CloseHandle(handle)
            except OSError:
                pass


_FILE_LIST_DIRECTORY = 0x0001
_FILE_SHARE_ALL = 0x0001 | 0x0002 | 0x0004
_OPEN_EXISTING = 3
_FILE_FLAG_BACKUP_SEMANTICS = 0x02000000
_INVALID_HANDLE = ctypes.c_void_p(-1).value
_DRIVE_REMOTE = 4
# File and folder names, sizes and last writes, anywhere below.
_NOTIFY_FILTER = 0x0001 | 0x0002 | 0x0008 | 0x0010
_NOTIFY_HEADER = ctypes.sizeof(wintypes.DWORD) * 3


def subtree_notifications() -> bool:
    """Whether ReadDirectoryChangesW reports changes anywhere below a
    folder: not under Wine (ntdll exports wine_get_version), whose
    notifications name only the folder's own entries."""
    try:
        ntdll = ctypes.WinDLL("ntdll")
    except OSError:
        return True
    return not hasattr(ntdll, "wine_get_version")


def is_remote_path(path: str) -> bool:
    """True for a folder on a network share: a UNC path, or a drive
    GetDriveTypeW calls remote (a mapped drive)."""
    path = os.path.abspath(path)
    if path.startswith("\\\\"):
        return not path.startswith("\\\\?\\") or path[4:8].upper() == "UNC\\"
    drive = os.path.splitdrive(path)[0]
    if not drive:
        return False
    return _kernel().GetDriveTypeW(drive + "\\") == _DRIVE_REMOTE


class DirectoryChanges:
    """Change notifications for every file below a folder
    (ReadDirectoryChangesW on the folder, watching its subtree)."""

    def __init__(self, folder: str, buffer_size: int = 1 << 16) -> None:
        kernel32 = _kernel()
        handle = kernel32.CreateFileW(
            folder, _FILE_LIST_DIRECTORY, _FILE_SHARE_ALL, None,
            _OPEN_EXISTING, _FILE_FLAG_BACKUP_SEMANTICS, None)
        if not handle or handle == _INVALID_HANDLE:
            error = ctypes.get_last_error()
            raise OSError(None, ctypes.FormatError(error), folder, error)
        self.folder = folder
        self._handle = handle
        self._buffer = ctypes.create_string_buffer(buffer_size)
        self._closed = False

    def read(self) -> list:
        """Wait for the next changes; the paths they name, relative to the
        folder.  OSError when notifications fail, were cancelled, or came
        too fast to be kept (the caller then compares with a scan)."""
        got = wintypes.DWORD(0)
        buffer = self._buffer
        if not _kernel().ReadDirectoryChangesW(
                self._handle, buffer, len(buffer), True, _NOTIFY_FILTER,
                ctypes.byref(got), None, None):
            error = ctypes.get_last_error()
            raise OSError(None, ctypes.FormatError(error), self.folder, error)
        if not got.value:
            raise OSError(None, "more changes than the notification buffer"
                          " holds", self.folder)
        raw = buffer.raw[:got.value]
        paths = []
        offset = 0
        while True:
            following, _, length = (
                int.from_bytes(raw[offset + i:offset + i + 4], "little")
                for i in (0, 4, 8))
            start = offset + _NOTIFY_HEADER
            paths.append(raw[start:start + length].decode("utf-16-le"))
            if not following:
                return paths
            offset += following

    def cancel(self) -> None:
        """End a :meth:`read` waiting in another thread (it raises)."""
        if not self._closed:
            _kernel().CancelIoEx(self._handle, None)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _kernel().CloseHandle(self._handle)


def interrupt_thread(thread_id: int) -> bool:
    """Cancel the blocking read or ConnectNamedPipe ``thread_id`` is in;
    it then fails as if the pipe had closed.  False if nothing was
    pending."""
    kernel32 = _kernel()
    handle = kernel32.OpenThread(_THREAD_TERMINATE, False, thread_id)
    if not handle:
        return False
    try:
        return bool(kernel32.CancelSynchronousIo(handle))
    finally:
        kernel32.CloseHandle(handle)


def watch_shutdown_event(
        value: Union[str, int, None],
        on_signal: Callable[[], None]) -> Optional[threading.Thread]:
    """IIS's ``_FCGI_SHUTDOWN_EVENT_``: the decimal value of an inherited
    event handle, signalled before IIS terminates the process.  Wait for
    it in a daemon thread and call ``on_signal()`` then.  Returns the
    thread, or None when ``value`` is no handle."""
    try:
        handle = int(value)
    except (TypeError, ValueError):
        log.warning("ignoring _FCGI_SHUTDOWN_EVENT_=%r: not a handle", value)
        return None

    def wait():
        try:
            result = _winapi.WaitForSingleObject(handle, _winapi.INFINITE)
        except OSError as error:
            log.warning("cannot wait on the shutdown event %d: %s",
                        handle, error)
            return
        if result == _WAIT_OBJECT_0:
            on_signal()
        else:
            log.warning("waiting on the shutdown event %d returned %d",
                        handle, result)

    thread = threading.Thread(target=wait, name="iiswsgi-shutdown-event",
                              daemon=True)
    thread.start()
    return thread


# -- the log file: opened so that other processes may rename it ---------------

# GENERIC_READ (byte-range locks need it) | FILE_APPEND_DATA | SYNCHRONIZE
_GENERIC_WRITE_APPEND = 0x80000000 | 0x0004 | 0x00100000
_FILE_SHARE_ALL = 0x1 | 0x2 | 0x4             # READ | WRITE | DELETE
_OPEN_ALWAYS = 4
_FILE_ATTRIBUTE_NORMAL = 0x80
_FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000
_INVALID_HANDLE = ctypes.c_void_p(-1).value


def open_shared_append(path: str) -> int:
    """A C file descriptor appending to ``path`` (created if missing),
    opened with FILE_SHARE_DELETE so that another process may rename it
    while this one writes (log rotation with several FastCGI processes).
    A link is opened as itself, not followed.  Write it under
    :func:`append_lock`: several processes appending at once may otherwise
    write at the same offset (Wine does)."""
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    create = kernel32.CreateFileW
    create.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD,
                       ctypes.c_void_p, wintypes.DWORD, wintypes.DWORD,
                       wintypes.HANDLE]
    create.restype = wintypes.HANDLE
    handle = create(path, _GENERIC_WRITE_APPEND, _FILE_SHARE_ALL, None,
                    _OPEN_ALWAYS,
                    _FILE_ATTRIBUTE_NORMAL | _FILE_FLAG_OPEN_REPARSE_POINT,
                    None)
    if handle is None or handle == _INVALID_HANDLE:
        error = ctypes.get_last_error()
        raise OSError(None, ctypes.FormatError(error), path, error)
    try:
        return msvcrt.open_osfhandle(handle, os.O_WRONLY | os.O_APPEND)
    except OSError:
        _winapi.CloseHandle(handle)
        raise


class _Overlapped(ctypes.Structure):
    _fields_ = [("Internal", ctypes.c_void_p),
                ("InternalHigh", ctypes.c_void_p),
                ("Offset", wintypes.DWORD), ("OffsetHigh", wintypes.DWORD),
                ("hEvent", wintypes.HANDLE)]


_LOCKFILE_EXCLUSIVE_LOCK = 0x0002


class append_lock:
    """``with append_lock(fd):`` holds an exclusive byte-range lock, far
    past any log's end, on the file ``fd`` writes: the site's processes
    then append one at a time.  If the file system cannot lock, the block
    runs unlocked."""

    def __init__(self, fd: int) -> None:
        self.handle = msvcrt.get_osfhandle(fd)
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        self._lock = kernel32.LockFileEx
        self._lock.argtypes = [wintypes.HANDLE, wintypes.DWORD,
                               wintypes.DWORD, wintypes.DWORD,
                               wintypes.DWORD, ctypes.POINTER(_Overlapped)]
        self._lock.restype = wintypes.BOOL
        self._unlock = kernel32.UnlockFileEx
        self._unlock.argtypes = [wintypes.HANDLE, wintypes.DWORD,
                                 wintypes.DWORD, wintypes.DWORD,
                                 ctypes.POINTER(_Overlapped)]
        self._unlock.restype = wintypes.BOOL
        self._where = _Overlapped(OffsetHigh=0x7FFFFFFF)
        self.locked = False

    def __enter__(self) -> "append_lock":
        self.locked = bool(self._lock(self.handle, _LOCKFILE_EXCLUSIVE_LOCK,
                                      0, 1, 0, ctypes.byref(self._where)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.locked:
            self._unlock(self.handle, 0, 1, 0, ctypes.byref(self._where))
            self.locked = False


# -- the Application event log --------------------------------------------------

_EVENTLOG_ERROR_TYPE = 0x0001
_EVENTLOG_WARNING_TYPE = 0x0002
_EVENT_ID = 1


def report_event(source: str, message: str, error: bool = True) -> bool:
    """Write ``message`` to the Application event log under ``source``
    (RegisterEventSourceW, ReportEventW); True if it was written."""
    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    register = advapi32.RegisterEventSourceW
    register.argtypes = [wintypes.LPCWSTR, wintypes.LPCWSTR]
    register.restype = wintypes.HANDLE
    report = advapi32.ReportEventW
    report.argtypes = [wintypes.HANDLE, wintypes.WORD, wintypes.WORD,
                       wintypes.DWORD, ctypes.c_void_p, wintypes.WORD,
                       wintypes.DWORD, ctypes.POINTER(wintypes.LPCWSTR),
                       ctypes.c_void_p]
    report.restype = wintypes.BOOL
    deregister = advapi32.DeregisterEventSource
    deregister.argtypes = [wintypes.HANDLE]
    deregister.restype = wintypes.BOOL
    handle = register(None, source)
    if not handle:
        return False
    try:
        strings = (wintypes.LPCWSTR * 1)(message)
        kind = _EVENTLOG_ERROR_TYPE if error else _EVENTLOG_WARNING_TYPE
        return bool(report(handle, kind, 0, _EVENT_ID, None, 1, 0, strings,
                           None))
    finally:
        deregister(handle)
