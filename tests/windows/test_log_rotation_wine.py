"""Log rotation on Windows CPython under Wine, with several processes
writing the same file at once (IIS's maxInstances): the file is renamed
while the others hold it open (FILE_SHARE_DELETE), every process follows the
new file, and no line is lost or torn."""

import json

import pytest

from tests.windows import winpython

WRITERS, LINES, MAX_BYTES = 3, 300, 10000


@pytest.fixture(scope="module")
def rotated(tmp_path_factory):
    work = tmp_path_factory.mktemp("rotation")
    logs = work / "logs"
    logs.mkdir()
    run = winpython.run_python(
        work, [str(winpython.HERE / "rotation_writer.py"),
               winpython.windows_path(winpython.ROOT),
               winpython.windows_path(logs) + "\\site.log",
               str(WRITERS), str(LINES), str(MAX_BYTES)], timeout=600)
    lines = run.stdout.decode("utf-8", "replace").splitlines()
    assert run.returncode == 0 and lines, run.stderr[-4000:]
    return json.loads(lines[-1])


def test_every_writer_succeeded(rotated):
    assert rotated["exit_codes"] == [0] * WRITERS, rotated["stderr"]
    assert not [text for text in rotated["stderr"] if "rotate" in text]


def test_it_rotated_and_kept_each_file_near_the_limit(rotated):
    files = rotated["files"]
    assert "site.log" in files and "site.log.1" in files
    assert len(files) >= 8
    assert not [name for name in files if name.endswith(".rotating")]
    for name, text in files.items():
        assert len(text.encode("utf-8")) <= MAX_BYTES + WRITERS * 200, name


def test_no_line_is_lost_or_torn(rotated):
    seen = {}
    for text in rotated["files"].values():
        for line in text.splitlines():
            assert " iiswsgi.writer: writer " in line, line
            words = line.split(" iiswsgi.writer: writer ")[1].split()
            assert len(words) == 4 and words[3] == "x" * 60, line
            seen.setdefault(words[0], []).append(int(words[2]))
    assert len(seen) == WRITERS
    for numbers in seen.values():
        assert sorted(numbers) == list(range(LINES))
