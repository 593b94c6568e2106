"""iiswsgi.logs: the one redactor (the log's and publish's)."""

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
