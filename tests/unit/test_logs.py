"""iiswsgi.logs: the one redactor (the log's and publish's), the log file
(rotation with several writers, safety), configure() against an
application's logging configuration, escaped control characters."""

import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest

from iiswsgi import logs
from tests.support.iis import ROOT


def test_redactor_hides_longest_first_and_percent_encoded():
    hide = logs.Redactor(["abc", "abcdef", "a+b/c"])
    text = hide.redact("abcdef, abc, a+b/c and a%2Bb%2Fc")
    assert text == "[redacted], [redacted], [redacted] and [redacted]"


def test_redactor_skips_short_and_common_values():
    hide = logs.Redactor(["on", "true", "s3cr3t"], min_length=4,
                         ignore=["true"])
    assert hide.redact("on true s3cr3t") == "on true [redacted]"


def test_registered_secret_is_redacted_in_its_url_form():
    logs.add_secret("Kx7 log+secret")
    assert "Kx7" not in logs.redact("sig=Kx7%20log%2Bsecret")


def test_open_log_file_appends_and_creates_the_folder(tmp_path):
    path = tmp_path / "Logs" / "site" / "iiswsgi.log"
    for line in ("one\n", "two\n"):
        with logs.open_log_file(str(path)) as stream:
            stream.write(line)
    assert path.read_text() == "one\ntwo\n"
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="no O_NOFOLLOW")
def test_open_log_file_refuses_a_symbolic_link(tmp_path):
    precious = tmp_path / "precious"
    precious.write_text("keep\n")
    link = tmp_path / "iiswsgi.log"
    link.symlink_to(precious)
    with pytest.raises(OSError):
        logs.open_log_file(str(link))
    assert precious.read_text() == "keep\n"


# -- configure(), run in a fresh interpreter: it sets up the process's logging --


def run_python(code, env=None, cwd=None):
    """Run ``code`` in a fresh interpreter with iiswsgi importable; its
    stdout (stripped)."""
    environ = dict(os.environ, PYTHONPATH=ROOT)
    for name in ("WSGI_LOG", "WSGI_LOG_MAX_BYTES", "WSGI_LOG_BACKUP_COUNT",
                 "IIS_USER_HOME"):
        environ.pop(name, None)
    environ.update(env or {})
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=120,
                            env=environ, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("disable", [False, True])
def test_the_apps_dictconfig_does_not_silence_the_log(tmp_path, disable):
    # Django's basic example: a console handler, the root at WARNING.
    path = tmp_path / "site.log"
    run_python("""
        import logging, logging.config, sys
        from iiswsgi import logs
        logs.configure(%r)
        sys.stdout = logs.LogWriter(logging.getLogger("iiswsgi.stdout"),
                                    logging.INFO)
        sys.stderr = logs.LogWriter(logging.getLogger("iiswsgi.stderr"),
                                    logging.WARNING)
        logging.config.dictConfig({
            "version": 1, "disable_existing_loggers": %r,
            "handlers": {"console": {"class": "logging.StreamHandler"}},
            "root": {"handlers": ["console"], "level": "WARNING"}})
        logging.getLogger("iiswsgi.gateway.responder").info("gateway line")
        logging.getLogger("iiswsgi.hosting.x").info("created after")
        print("printed by the app")
        try:
            1 / 0
        except ZeroDivisionError:
            logging.getLogger("django.request").exception("view failed")
        """ % (str(path), disable))
    text = path.read_text()
    assert "INFO iiswsgi.gateway.responder: gateway line" in text
    assert "INFO iiswsgi.hosting.x: created after" in text
    assert "iiswsgi.stdout: printed by the app" in text
    assert "view failed" in text and "ZeroDivisionError" in text
    # each line once: the app's console handler writes to the LogWriter too
    assert text.count("gateway line") == 1
    assert text.count("printed by the app") == 1


@pytest.mark.parametrize("blocker", ["file", "readonly"])
def test_a_log_that_cannot_be_opened_keeps_the_previous_one(tmp_path,
                                                           blocker):
    good = tmp_path / "good.log"
    if blocker == "file":
        (tmp_path / "afile").write_text("x")
        bad = tmp_path / "afile" / "site.log"
    else:
        folder = tmp_path / "readonly"
        folder.mkdir()
        bad = folder / "site.log"
        bad.write_text("")
        bad.chmod(0o400)
        if os.geteuid() == 0:
            # root writes anyway; a file that is a folder stops it
            bad.unlink()
            bad.mkdir()
    out = json.loads(run_python("""
        import json, logging
        from iiswsgi import logs
        first = logs.configure(%r)
        second = logs.configure(%r)
        logging.getLogger("iiswsgi.x").error("after the change")
        print(json.dumps([first, second, logs.current_log_path(),
                          logs.log_problem(), logs.where_logged()]))
        """ % (str(good), str(bad))))
    first, second, current, problem, where = out
    assert first == second == current == str(good)
    assert str(bad) in problem
    assert str(good) in where and str(bad) in where
    text = good.read_text()
    assert "cannot write the log file %s" % bad in text
    assert "still logging to %s" % good in text
    assert "after the change" in text


def test_lines_wait_in_memory_until_a_log_is_configured(tmp_path):
    temp = tmp_path / "temp"
    temp.mkdir()
    log = tmp_path / "site.log"
    out = run_python("""
        import logging
        from iiswsgi import logs
        print(logs.configure())
        logging.getLogger("iiswsgi.early").info("before WSGI_LOG")
        print(logs.configure(%r))
        """ % str(log), env={"TEMP": str(temp), "TMPDIR": str(temp)})
    assert out.splitlines() == ["None", str(log)]
    assert os.listdir(temp) == []
    assert "iiswsgi.early: before WSGI_LOG" in log.read_text()


def test_no_default_log_in_a_temporary_folder(tmp_path):
    env = {"TEMP": str(tmp_path), "IIS_USER_HOME": ""}
    assert logs.candidates(env) == []
    home = {"IIS_USER_HOME": str(tmp_path), "IISEXPRESS_SITENAME": "s"}
    assert logs.candidates(home) == [
        str(tmp_path / "Logs" / "s" / "iiswsgi.log"),
        str(tmp_path / "Logs" / "iiswsgi.log")]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
@pytest.mark.parametrize("before, after", [(0o666, 0o640), (0o604, 0o600), (0o644, 0o640),
                                           (0o600, 0o600), (0o640, 0o640)])
def test_an_existing_logs_permissions_are_tightened(tmp_path, before, after):
    path = tmp_path / "site.log"
    path.write_text("old\n")
    path.chmod(before)
    logs.open_log_file(str(path)).close()
    assert path.stat().st_mode & 0o777 == after
    assert path.read_text() == "old\n"


@pytest.mark.skipif(os.name == "nt", reason="POSIX hard links")
def test_open_log_file_refuses_a_hard_link(tmp_path):
    precious = tmp_path / "precious"
    precious.write_text("keep\n")
    link = tmp_path / "iiswsgi.log"
    os.link(precious, link)
    with pytest.raises(OSError, match="hard links"):
        logs.open_log_file(str(link))
    assert precious.read_text() == "keep\n"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="chown needs root")
def test_open_log_file_refuses_a_file_of_another_user(tmp_path):
    path = tmp_path / "iiswsgi.log"
    path.write_text("theirs\n")
    os.chown(path, 65534, 65534)
    with pytest.raises(OSError, match="belongs to another user"):
        logs.open_log_file(str(path))
    assert path.read_text() == "theirs\n"


def test_control_characters_are_escaped_but_a_traceback_keeps_its_lines():
    formatter = logs._LineFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("bad\x1b[31m")
    except ValueError:
        record = logging.LogRecord(
            "iiswsgi.gateway.responder", logging.ERROR, __file__, 1,
            "the application failed on %s", ("GET /x\r\n2026 INFO forged",),
            sys.exc_info())
    text = formatter.format(record)
    first, rest = text.split("\n", 1)
    assert first == ("ERROR the application failed on"
                     " GET /x\\r\\n2026 INFO forged")
    assert rest.startswith("Traceback (most recent call last):")
    assert "ValueError: bad\\x1b[31m" in rest
    assert "\x1b" not in text and "\r" not in text


ROTATE_WRITER = """
import logging, os, sys
from iiswsgi import logs
logs.configure(sys.argv[1], max_bytes=int(sys.argv[2]),
               backup_count=int(sys.argv[3]))
name = logging.getLogger("iiswsgi.writer")
for number in range(int(sys.argv[4])):
    name.info("writer %s line %05d " + "x" * 60, os.getpid(), number)
"""


def test_rotation_with_several_writing_processes(tmp_path):
    path = tmp_path / "logs" / "site.log"
    script = tmp_path / "writer.py"
    script.write_text(ROTATE_WRITER)
    writers, lines, max_bytes = 4, 400, 20000
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("WSGI_LOG", None)
    processes = [subprocess.Popen(
        [sys.executable, str(script), str(path), str(max_bytes), "100",
         str(lines)], env=env) for _ in range(writers)]
    assert [p.wait(120) for p in processes] == [0] * writers
    files = sorted(path.parent.iterdir())
    assert len(files) > 5                     # it did rotate
    assert not [f for f in files if f.name.endswith(".rotating")]
    seen = {}
    for log_file in files:
        assert log_file.stat().st_size <= max_bytes + 4 * 200, log_file
        for line in log_file.read_text().splitlines():
            if "iiswsgi.writer: writer" not in line:
                continue
            words = line.split("writer ")[-1].split()
            assert len(words) == 4 and words[3] == "x" * 60, line
            seen.setdefault(words[0], set()).add(int(words[2]))
    assert len(seen) == writers
    assert all(numbers == set(range(lines)) for numbers in seen.values())


def test_rotation_keeps_backup_count_files(tmp_path):
    path = tmp_path / "site.log"
    script = tmp_path / "writer.py"
    script.write_text(ROTATE_WRITER)
    run_python("import runpy, sys; sys.argv = ['w', %r, '2000', '2', '200'];"
               " runpy.run_path(%r)" % (str(path), str(script)))
    assert sorted(f.name for f in tmp_path.iterdir()) == [
        "site.log", "site.log.1", "site.log.2", "writer.py"]
    assert "line 00199" in path.read_text()


def test_an_exception_message_cannot_forge_a_line_in_its_traceback():
    formatter = logs._LineFormatter("%(message)s")
    try:
        try:
            raise KeyError("first")
        except KeyError as error:
            raise ValueError("for /x\r\n2026-01-01 forged") from error
    except ValueError:
        record = logging.LogRecord("iiswsgi.x", logging.ERROR, __file__, 1,
                                   "failed", (), sys.exc_info())
    lines = formatter.format(record).splitlines()
    assert "ValueError: for /x\\r\\n2026-01-01 forged" in lines
    assert not [line for line in lines if line.startswith("2026")]
    assert "KeyError: 'first'" in lines
    assert ("The above exception was the direct cause of the following"
            " exception:") in lines
    assert lines.count("Traceback (most recent call last):") == 2


def test_gateway_records_still_reach_the_apps_own_root_handlers(tmp_path):
    # A Paste ini's [logger_root] (or any dictConfig) with a file of its
    # own still gets the gateway's lines; the log gets each line once.
    path, own = tmp_path / "site.log", tmp_path / "app.log"
    run_python("""
        import logging, logging.config, sys
        from iiswsgi import logs
        logs.configure(%r)
        sys.stderr = logs.LogWriter(logging.getLogger("iiswsgi.stderr"),
                                    logging.WARNING)
        logging.config.dictConfig({
            "version": 1, "disable_existing_loggers": True,
            "handlers": {"own": {"class": "logging.FileHandler",
                                 "filename": %r},
                         "console": {"class": "logging.StreamHandler"}},
            "root": {"handlers": ["own", "console"], "level": "INFO"}})
        logging.getLogger("iiswsgi.gateway.server").warning("gateway line")
        logging.getLogger("myapp").warning("app line")
        """ % (str(path), str(own)))
    text, mine = path.read_text(), own.read_text()
    assert text.count("gateway line") == 1 and "gateway line" in mine
    # the app's own record reaches the log through its console handler
    assert text.count("app line") == 1 and "app line" in mine


def test_long_records_from_several_processes_are_not_interleaved(tmp_path):
    # Longer than any buffer: each record is still one write(2).
    path = tmp_path / "site.log"
    script = tmp_path / "long.py"
    script.write_text(
        "import logging, os, sys\nfrom iiswsgi import logs\n"
        "logs.configure(sys.argv[1], max_bytes=0)\n"
        "for number in range(40):\n"
        "    logging.getLogger('iiswsgi.long').info(\n"
        "        'begin %d %s end', os.getpid(), str(os.getpid()) * 20000)\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("WSGI_LOG", None)
    processes = [subprocess.Popen([sys.executable, str(script), str(path)],
                                  env=env) for _ in range(3)]
    assert [p.wait(120) for p in processes] == [0, 0, 0]
    lines = path.read_text().splitlines()
    assert len(lines) == 120
    for line in lines:
        pid = line.split("begin ")[1].split()[0]
        assert line.endswith("begin %s %s end" % (pid, pid * 20000))
