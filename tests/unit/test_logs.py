"""iiswsgi.logs: the one redactor (the log's and publish's)."""

import os

import pytest

from iiswsgi import logs


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
