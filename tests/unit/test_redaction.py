"""iiswsgi.redaction: secrets hidden by name, by value and by shape, in
every form they are usually written in."""

import base64
import json
import logging
import os
import time
from urllib.parse import quote, quote_plus

from hypothesis import given, settings, strategies as st

from iiswsgi import logs, redaction
from iiswsgi.redaction import (REDACTED, Redactor, protect_secrets, redact,
                               redact_text, redact_value, secret_values)


def test_redactor_hides_longest_first_and_percent_encoded():
    hide = Redactor(["abc", "abcdef", "a+b/c"])
    text = hide.redact("abcdef, abc, a+b/c and a%2Bb%2Fc")
    assert text == "[redacted], [redacted], [redacted] and [redacted]"


def test_a_long_secret_such_as_a_pem_key():
    key = ("-----BEGIN PRIVATE KEY-----\n"
           + base64.b64encode(os.urandom(3000)).decode()
           + "\n-----END PRIVATE KEY-----")
    hide = Redactor([key, key[:-40] + "x"])
    assert hide.redact("key: %s." % key) == "key: [redacted]."


def test_logs_keeps_the_names_it_had():
    assert logs.Redactor is Redactor and logs.redact is redact
    assert logs.protect_secrets is protect_secrets


def test_a_connection_string_under_a_plain_name():
    protect_secrets({"MY_CONN": "Server=db1;User Id=app;"
                                "Password=Pa55-w0rd!conn;Encrypt=yes"})
    text = redact("login failed: Pa55-w0rd!conn was refused")
    assert "Pa55-w0rd!conn" not in text and REDACTED in text
    # The rest of it is no secret.
    assert redact("Server=db1;User Id=app") == "Server=db1;User Id=app"


def test_a_password_inside_database_url():
    protect_secrets({"DATABASE_URL": "postgres://app:S3cr3t-p%40ss@db/x"})
    for shown in ("S3cr3t-p%40ss", "S3cr3t-p@ss"):
        text = redact("FATAL: password %s rejected" % shown)
        assert shown not in text, text
    assert redact("postgres://app:S3cr3t-p%40ss@db/x") == \
        "postgres://app:[redacted]@db/x"


SECRET = "it's \"q\\uote\" Ünï-8x"


def _encoded_forms(secret):
    data = secret.encode("utf-8")
    yield repr(secret)
    yield repr({"password": secret})
    yield repr([secret + "'\""])
    yield json.dumps({"password": secret})
    yield json.dumps(secret, ensure_ascii=False)
    yield quote(secret, safe="")
    yield quote(secret)
    yield quote_plus(secret)
    for prefix in (b"", b"u", b"us", b"user:"):
        yield base64.b64encode(prefix + data + b"!").decode()
        yield base64.urlsafe_b64encode(prefix + data).decode()


def _pure_base64(secret, encoded):
    """Whether ``encoded`` still holds 8 base64 digits of ``secret``."""
    for forms in (redaction._base64_forms(secret),):
        if any(form in encoded for form in forms):
            return True
    return False


def test_a_secret_in_every_encoding():
    protect_secrets({"DB_PASSWORD": SECRET})
    for form in _encoded_forms(SECRET):
        text = redact("value: " + form)
        assert REDACTED in text, (form, text)
        assert "Ünï-8x" not in text and "%C3%9Cn" not in text, text
        assert not _pure_base64(SECRET, text), (form, text)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=8, max_size=40))
def test_any_secret_in_any_encoding(secret):
    hide = Redactor([secret])
    for form in _encoded_forms(secret):
        text = hide.redact(form)
        assert not _pure_base64(secret, text), (secret, form, text)
        for raw in (secret, quote(secret, safe=""), quote_plus(secret),
                    json.dumps(secret)[1:-1], repr(secret)[1:-1]):
            assert raw not in text, (secret, form, text)


def test_shapes_in_free_text():
    jwt = ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
           "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U")
    text = redact(
        "cs=Server=x;Pwd=hunt3r-two;  mysql://root:toor-9x@h/db"
        "  Authorization: Bearer %s  AKIAIOSFODNN7EXAMPLE"
        "  AccountKey=Zm9vYmFy+/== ?sv=1&sig=Ab%%2Fc9" % jwt)
    for leaked in ("hunt3r-two", "toor-9x", jwt, "AKIAIOSFODNN7EXAMPLE",
                   "Zm9vYmFy", "Ab%2Fc9"):
        assert leaked not in text, text
    assert "mysql://root:[redacted]@h/db" in text
    assert "Server=x;Pwd=[redacted];" in text
    # A repr()'d mapping keeps its closing quote and brace.
    assert redact(repr({"conn": "Server=x;Password=Kq1w2e3"})) == \
        "{'conn': 'Server=x;Password=[redacted]'}"


def test_ordinary_text_is_left_alone():
    for text in ("GET /static/app.css 200 in 3 ms",
                 "sha1 3F786850E387550FDAB836ED7E6DC881DE23001B",
                 "File \"/home/site/wwwroot/lib/python3.12/site-packages/"
                 "django/core/handlers/base.py\", line 197",
                 "x = 1; y == 2; mail bob@example.com"):
        assert redact(text) == text


def test_keys_and_tokens_as_setting_values_whatever_their_name():
    key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    hex_key = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    aws = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert secret_values(key, "STRIPE") == [key]
    assert secret_values(hex_key, "RELEASE") == [hex_key]
    assert secret_values(aws, "AWS_SECRET_ACCESS_KEY") == [aws]
    assert secret_values(aws, "AWS_SECRET") == [aws]
    # Paths, words and numbers are not.
    for value in ("/home/someuser/projects/mywebapp/library", "12345",
                  "/tmp/pytest-of-root/pytest-378/test_doctor_venv_redirector0"
                  "/venv/Lib/site-packages",
                  "C:\\Python313\\Lib\\site-packages;D:\\Apps\\Site2",
                  "myproject.settings.Production2024Config",
                  "\\\\.\\pipe\\IISFCGI-0b1d6a40-91c2-4d3e-8f7a-"
                  "5e6d7c8b9a01",
                  "C:\\inetpub\\wwwroot\\app", "true",
                  "12345678901234567890123456789012345"):
        assert secret_values(value, "SOMETHING") == [], value


def test_redact_text_for_doctor_hides_the_environment_it_is_given():
    environ = {"DB_PASSWORD": "doctor-Kq7-pw", "PATH": "/usr/bin",
               "DATABASE_URL": "mysql://u:doctor-url-9z@h/d"}
    traceback = ('Traceback (most recent call last):\n'
                 '  File "app.py", line 3\n'
                 "RuntimeError: cannot connect with 'doctor-Kq7-pw' to "
                 "doctor-url-9z\n")
    text = redact_text(traceback, environ)
    assert "doctor-Kq7-pw" not in text and "doctor-url-9z" not in text
    assert "RuntimeError: cannot connect with '[redacted]'" in text
    # Not registered for the process: the environment was only looked at.
    assert redact("doctor-Kq7-pw") == "doctor-Kq7-pw"


def test_redact_value():
    assert redact_value("DB_PASSWORD", "hunter2") == REDACTED
    assert redact_value("DATABASE_URL", "postgres://u:pw-4411@h/d") == \
        "postgres://u:[redacted]@h/d"
    assert redact_value("DJANGO_SETTINGS_MODULE", "site.settings") == \
        "site.settings"


def test_the_log_hides_secrets_found_by_shape(tmp_path):
    path = tmp_path / "iiswsgi.log"
    protect_secrets({"MY_CONN": "Driver=x;Pwd={log-Pw'd-77}"})
    logs.configure(str(path))
    try:
        logging.getLogger("iiswsgi.test").error(
            "settings: %r", {"conn": "Driver=x;Pwd={log-Pw'd-77}"})
    finally:
        logs.configure(str(tmp_path / "other.log"))
    text = path.read_text()
    assert "log-Pw" not in text and REDACTED in text, text


def test_redaction_is_cheap_on_a_line_without_secrets():
    protect_secrets({"SPEED_%d_TOKEN" % i: os.urandom(12).hex()
                     for i in range(20)})
    line = ("2026-01-01 10:00:00 1234 INFO iiswsgi.gateway: GET"
            " /shop/cart/items?page=2 answered 200 in 12 ms")
    redact(line)
    start = time.perf_counter()
    for _ in range(2000):
        redact(line)
    per_line = (time.perf_counter() - start) / 2000
    # Generous (a loaded machine): measured, about 6 us a line.
    assert per_line < 1e-3, per_line
