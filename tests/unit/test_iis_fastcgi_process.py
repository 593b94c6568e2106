"""One FastCGI process (iiswsgi.iis.fastcgi_process, as the emulator
uses it): its command line read as Windows reads it, a process that cannot
start, and its standard output and error closed or captured."""

import os
import sys
import tempfile

import pytest

from iiswsgi.emulator.config import FastCgiSettings
from iiswsgi.emulator.pool import Pool
from iiswsgi.iis.fastcgi_process import ProcessFailure
from iiswsgi.errors import IISWSGIError
from iiswsgi.iis.cmdline import split_command_line
from iiswsgi.iis.fastcgi_process import FastCgiProcess


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


CHECK_STDIO = """
import os, sys
found = []
for fd in (1, 2):
    try:
        os.fstat(fd)
        found.append("open")
    except OSError:
        found.append("closed")
with open(sys.argv[1], "w") as report:
    report.write(" ".join(found))
if found == ["open", "open"]:
    os.write(1, b"to stdout\\n")
    os.write(2, b"to stderr\\n")
"""


@pytest.mark.skipif(os.name == "nt", reason="POSIX processes")
@pytest.mark.parametrize("capture", [False, True])
def test_standard_output_and_error_closed_or_captured(tmp_path, capture):
    """As IIS starts it, fds 1 and 2 are closed; with an output file (the
    probe's diagnostics) both go to it."""
    report = tmp_path / "report"
    argv = [sys.executable, "-c", CHECK_STDIO, str(report)]
    with tempfile.TemporaryFile() as output:
        process = FastCgiProcess(FastCgiSettings(sys.executable),
                                 dict(os.environ),
                                 output if capture else None, argv)
        assert process.wait(30) == 0
        process.stop(0)
        output.seek(0)
        written = output.read()
    if capture:
        assert report.read_text() == "open open"
        assert written == b"to stdout\nto stderr\n"
    else:
        assert report.read_text() == "closed closed"
        assert written == b""
