"""Every Windows-only call iiswsgi makes.

Imported only on Windows, and only when needed, so that nothing else in
the package touches msvcrt, ctypes.windll or _winapi.
"""

import ctypes
import msvcrt
import os
from ctypes import wintypes

__all__ = ["interrupt_thread", "is_disconnect_error", "prepare_pipe",
           "socket_handle", "stdin_kind"]

_FILE_TYPE_UNKNOWN = 0x0000
_FILE_TYPE_DISK = 0x0001
_FILE_TYPE_CHAR = 0x0002
_FILE_TYPE_PIPE = 0x0003

_ERROR_BROKEN_PIPE = 109
_ERROR_NO_DATA = 232
_ERROR_PIPE_NOT_CONNECTED = 233
_ERROR_OPERATION_ABORTED = 995

_THREAD_TERMINATE = 0x0001

_kernel32 = None


def _kernel():
    global _kernel32
    if _kernel32 is None:
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.GetFileType.argtypes = [wintypes.HANDLE]
        kernel32.GetFileType.restype = wintypes.DWORD
        kernel32.GetNamedPipeInfo.argtypes = [
            wintypes.HANDLE, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_void_p, ctypes.c_void_p]
        kernel32.GetNamedPipeInfo.restype = wintypes.BOOL
        kernel32.OpenThread.argtypes = [
            wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
        kernel32.OpenThread.restype = wintypes.HANDLE
        kernel32.CancelSynchronousIo.argtypes = [wintypes.HANDLE]
        kernel32.CancelSynchronousIo.restype = wintypes.BOOL
        kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
        kernel32.CloseHandle.restype = wintypes.BOOL
        _kernel32 = kernel32
    return _kernel32


def _handle(fd):
    try:
        return msvcrt.get_osfhandle(fd)
    except OSError:
        return None


def prepare_pipe(fd):
    """Binary mode on ``fd``, so the C runtime translates no line ends."""
    msvcrt.setmode(fd, os.O_BINARY)


def stdin_kind(fd):
    """``"pipe"``, ``"socket"``, ``"char"``, ``"disk"``, ``"invalid"`` or
    ``"unknown"``: what the handle behind ``fd`` is."""
    handle = _handle(fd)
    if handle is None or handle in (0, -1):
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


def socket_handle(fd):
    """The SOCKET behind ``fd``, for ``socket.socket(fileno=...)``."""
    return msvcrt.get_osfhandle(fd)


def interrupt_thread(thread_id):
    """Cancel the blocking read ``thread_id`` is in; the read then fails as
    if the pipe had closed."""
    kernel32 = _kernel()
    handle = kernel32.OpenThread(_THREAD_TERMINATE, False, thread_id)
    if not handle:
        return False
    try:
        return bool(kernel32.CancelSynchronousIo(handle))
    finally:
        kernel32.CloseHandle(handle)


def is_disconnect_error(error):
    """True when ``error`` means the other end of a pipe went away, or the
    read was cancelled by :func:`interrupt_thread`."""
    return getattr(error, "winerror", None) in (
        _ERROR_BROKEN_PIPE, _ERROR_NO_DATA, _ERROR_PIPE_NOT_CONNECTED,
        _ERROR_OPERATION_ABORTED)
