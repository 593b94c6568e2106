"""Run Microsoft's wfastcgi 3.0.0 on Linux, for the IIS-mode benchmark.

wfastcgi looks up kernel32 functions through ``ctypes.windll`` when it is
imported, and its file watcher thread (started on the first request)
calls CreateFileW and then ReadDirectoryChangesW in a loop.  This launcher
puts a stand-in ``ctypes.windll`` in place first: every kernel32 function
is a dummy that accepts ``restype``/``argtypes``; CreateFileW hands back a
fake handle and ReadDirectoryChangesW blocks for ever, so the watcher
thread exists and sleeps, as it does on Windows while no file changes.
Then it runs ``wfastcgi.main()``, which serves FastCGI on standard input.
"""

import ctypes
import os
import threading

_NEVER = threading.Event()


def _block_forever(*args):
    _NEVER.wait()
    return 0


def _exit_process(code=0, *args):
    os._exit(int(code))


_BEHAVIOUR = {
    "CreateFileW": lambda *args: 1,        # a handle that is never used
    "ReadDirectoryChangesW": _block_forever,
    "WaitForSingleObject": _block_forever,
    "GetLastError": lambda *args: 0,
    "CloseHandle": lambda *args: 1,
    "ExitProcess": _exit_process,
}


class _StubFunction:
    """A foreign function look-alike: settable restype/argtypes, callable."""

    def __init__(self, name):
        self.__name__ = name
        self.restype = None
        self.argtypes = None
        self._call = _BEHAVIOUR.get(name, lambda *args: 0)

    def __call__(self, *args):
        return self._call(*args)


class _StubLibrary:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        function = _StubFunction(name)
        setattr(self, name, function)
        return function


class _StubLoader:
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        library = _StubLibrary(name)
        setattr(self, name, library)
        return library


if __name__ == "__main__":
    if not hasattr(ctypes, "windll"):
        ctypes.windll = _StubLoader()
    import wfastcgi
    wfastcgi.main()
