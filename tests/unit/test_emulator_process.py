"""One FastCGI process (iiswsgi.emulator.process): its command line read
as Windows reads it, and a process that cannot start."""

import pytest

from iiswsgi.emulator.config import FastCgiSettings
from iiswsgi.emulator.pool import Pool
from iiswsgi.emulator.process import ProcessFailure
from iiswsgi.errors import IISWSGIError
from iiswsgi.iis.cmdline import split_command_line


@pytest.mark.parametrize("line, words", [
    ("-m iiswsgi", ["-m", "iiswsgi"]),
    ('-m iiswsgi.cli serve "C:\\my site\\iis_fcgi.ini"',
     ["-m", "iiswsgi.cli", "serve", "C:\\my site\\iis_fcgi.ini"]),
    ("C:\\path\\x.py  arg", ["C:\\path\\x.py", "arg"]),
    ('"a\\\\" b', ["a\\", "b"]),           # 2n backslashes + quote
    ('a\\"b c', ['a"b', "c"]),             # 2n+1 backslashes + quote
    ('"" x', ["", "x"]),
    ('"say ""hi"""', ['say "hi"']),
    ("", []),
    ("   ", []),
    ('a\\\\"b c" d\\"e', ['a\\b c', 'd"e']),
])
def test_split_command_line(line, words):
    assert split_command_line(line) == words


def test_missing_executable_is_a_start_failure(tmp_path):
    pool = Pool(FastCgiSettings(str(tmp_path / "python.exe")), {})
    with pytest.raises(ProcessFailure) as failure:
        pool.acquire()
    assert "is not an executable file" in failure.value.detail
    assert pool.size == 0


def test_process_failure_is_an_iiswsgi_error():
    assert issubclass(ProcessFailure, IISWSGIError)
