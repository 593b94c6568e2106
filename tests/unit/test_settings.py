"""iiswsgi.settings: every option's type and range, the errors' words, the
sources, and the README's tables against the table."""

import os
import re

import pytest

from iiswsgi import settings
from iiswsgi.errors import IISWSGIError
from iiswsgi.settings import (COMMAND_LINE, ENVIRONMENT, OPTIONS,
                              SettingsError, app_settings_source, ini_source,
                              parse, parse_options, site_settings)

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
INI = ini_source("/srv/app.ini", "server:main")


def ini(**options):
    return parse({k: v for k, v in options.items()}, INI)


# -- each option: good values, bad types, the edges of its range -------------

GOOD = {
    "host": [("::1", "::1"), (" localhost ", "localhost")],
    "port": [("0", 0), ("9000", 9000), ("65535", 65535)],
    "socket": [("/run/x.sock", "/run/x.sock")],
    "umask": [("007", 0o007), ("0", 0), ("777", 0o777)],
    "threads": [("1", 1), ("16", 16), ("1024", 1024)],
    "workers": [("1", 1), ("2", 2), ("256", 256)],
    "read_timeout": [("0", 0.0), ("2.5", 2.5), ("31536000", 31536000.0)],
    "spool_threshold": [("0", 0), ("512K", 512 << 10), ("1MiB", 1 << 20),
                        ("2g", 2 << 30)],
    "spool_body": [("false", False), ("on", True)],
    "max_body": [("0", 0), ("2MiB", 2 << 20)],
    "max_requests": [("0", 0), ("10", 10)],
    "restart_regex": [("", ""), (r".*\.py$", r".*\.py$")],
    "watch_interval": [("0.01", 0.01), ("3600", 3600.0)],
    "script_name": [("/myapp", "/myapp"), ("", "")],
    "trust_original_url": [("true", True), ("off", False), ("", False)],
    "log_file": [("/var/log/x.log", "/var/log/x.log")],
    "debug": [("yes", True), ("0", False)],
}

BAD = {
    "host": [("", "it is empty")],
    "port": [("-1", "must be from 0 to 65535"),
             ("65536", "must be from 0 to 65535"),
             ("http", "'http' is not a whole number")],
    "socket": [("  ", "it is empty")],
    "umask": [("9", "'9' is not an octal mode"),
              ("1000", "must be from 000 to 777")],
    "threads": [("0", "must be from 1 to 1024 threads"),
                ("1025", "must be from 1 to 1024 threads"),
                ("many", "'many' is not a whole number")],
    "workers": [("0", "must be from 1 to 256 processes"),
                ("two", "a whole number")],
    "read_timeout": [("-5", "must be from 0 to 31536000 seconds"),
                     ("31536001", "must be from 0 to 31536000 seconds"),
                     ("soon", "'soon' is not a number of seconds"),
                     ("nan", "'nan' is not a number of seconds"),
                     ("inf", "'inf' is not a number of seconds")],
    "spool_threshold": [("-1", "must be 0 or more bytes"),
                        ("lots", "'lots' is not a size")],
    "spool_body": [("disk", "'disk' is not true or false")],
    "max_body": [("-1K", "must be 0 or more bytes"),
                 ("1T", "'1T' is not a size")],
    "max_requests": [("-1", "must be 0 or more requests"),
                     ("ten", "'ten' is not a whole number")],
    "restart_regex": [("(", "'(' is not a regular expression")],
    "watch_interval": [("0", "must be from 0.01 to 3600 seconds"),
                       ("3601", "must be from 0.01 to 3600 seconds"),
                       ("often", "'often' is not a number of seconds")],
    "trust_original_url": [("perhaps", "'perhaps' is not true or false")],
    "log_file": [("", "it is empty")],
    "debug": [("2", "'2' is not true or false")],
}

FOLDERS = ("spool_dir", "app_dir")


def test_every_server_option_is_tested():
    names = {o.name for o in OPTIONS if o.ini}
    assert names == set(GOOD) | set(FOLDERS)
    assert set(BAD) <= names


@pytest.mark.parametrize("name, raw, value", [
    (name, raw, value) for name, cases in GOOD.items()
    for raw, value in cases])
def test_good_values(name, raw, value):
    assert ini(**{name: raw}) == {name: value}


@pytest.mark.parametrize("name, raw, problem", [
    (name, raw, problem) for name, cases in BAD.items()
    for raw, problem in cases])
def test_bad_values_name_the_option_the_value_and_the_source(name, raw,
                                                              problem):
    with pytest.raises(SettingsError) as caught:
        ini(**{name: raw})
    message = str(caught.value)
    assert message.startswith("%s = %s in [server:main] of /srv/app.ini: "
                              % (name, raw)), message
    assert problem in message
    assert "correct it, or remove it for the default" in message
    assert caught.value.option == name and caught.value.source == INI


@pytest.mark.parametrize("name", FOLDERS)
def test_folders_must_exist(name, tmp_path):
    assert ini(**{name: str(tmp_path)}) == {name: str(tmp_path)}
    missing = tmp_path / "nowhere"
    with pytest.raises(SettingsError, match="there is no folder %s"
                       % re.escape(str(missing))):
        ini(**{name: str(missing)})


def test_the_brief_example():
    with pytest.raises(SettingsError) as caught:
        parse({"read_timeout": "-5"}, ini_source("app.ini", "server:main"))
    assert str(caught.value).startswith(
        "read_timeout = -5 in [server:main] of app.ini: must be from 0 to")
    assert "remove it for the default (60)" in str(caught.value)


def test_settings_error_is_a_value_error_and_an_iiswsgi_error():
    assert issubclass(SettingsError, ValueError)
    assert issubclass(SettingsError, IISWSGIError)


def test_unknown_option_lists_the_known_ones():
    with pytest.raises(SettingsError) as caught:
        parse({"spool_treshold": "1M"}, INI)
    message = str(caught.value)
    assert message.startswith("unknown iiswsgi server option"
                              " 'spool_treshold' in [server:main] of"
                              " /srv/app.ini; the options are: ")
    assert "spool_threshold" in message and "read_timeout" in message
    assert "handler" not in message        # site settings are not options


# -- sources -----------------------------------------------------------------

def test_command_line_errors_name_the_flag():
    with pytest.raises(SettingsError, match=r"^--port http on the command"
                                            r" line: 'http' is not a whole"):
        parse({"port": "http"}, COMMAND_LINE)


def test_environment_errors_name_the_variable():
    values, errors = site_settings({"WSGI_READ_TIMEOUT": "abc"}, ENVIRONMENT)
    assert values == {}
    assert [str(e) for e in errors] == [
        "WSGI_READ_TIMEOUT='abc' in the environment: 'abc' is not a number of"
        " seconds (write it as 30 or 2.5); correct it, or remove it for the"
        " default (60)"]


def test_app_settings_errors_name_the_web_config():
    source = app_settings_source(r"C:\site\web.config")
    values, errors = site_settings({"wsgi_read_timeout": "-1",
                                    "WSGI_RESTART_FILE_REGEX": "[",
                                    "SCRIPT_NAME": "/app"}, source)
    assert values == {"script_name": "/app"}
    messages = sorted(str(e) for e in errors)
    assert messages[0].startswith(
        "WSGI_READ_TIMEOUT='-1' in appSettings of C:\\site\\web.config:"
        " must be from 0 to")
    assert messages[1].startswith(
        "WSGI_RESTART_FILE_REGEX='[' in appSettings of C:\\site\\web.config:"
        " '[' is not a regular expression")


def test_site_settings_values():
    values, errors = site_settings({
        "WSGI_READ_TIMEOUT": "2.5", "WSGI_RESTART_FILE_REGEX": "",
        "SCRIPT_NAME": "", "WSGI_LOG": "/x.log", "WSGI_HANDLER": "a.b",
        "OTHER": "1"}, ENVIRONMENT)
    assert errors == []
    # An empty regex turns restarts off; an empty SCRIPT_NAME is not set.
    assert values == {"read_timeout": 2.5, "restart_regex": "",
                      "log_file": "/x.log"}
    assert site_settings({"WSGI_READ_TIMEOUT": " "}, ENVIRONMENT) == ({}, [])


# -- keyword arguments for the server -----------------------------------------

@pytest.mark.parametrize("options, message", [
    ({"socket": "/x", "port": "1"}, "not both"),
    ({"host": "localhost"}, "needs a port"),
])
def test_address_errors(options, message):
    with pytest.raises(SettingsError, match=message) as caught:
        parse_options(options, INI)
    assert "in [server:main] of /srv/app.ini" in str(caught.value)


def test_flags_are_the_options_with_a_flag():
    assert [o.flag for o in settings.flags()] == [
        "--host", "--port", "--socket", "--threads", "--workers",
        "--log-file", "--debug"]


# -- the README's tables against this one --------------------------------------

def _rows(lines, header):
    """The rows (lists of cells) of the Markdown table whose header row is
    ``lines[header]``."""
    rows = []
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def _readme_lines():
    with open(README, encoding="utf-8") as stream:
        return stream.read().splitlines()


def _table(heading):
    """The rows of the first table after the Markdown heading ``heading``,
    as lists of cells."""
    lines = _readme_lines()
    start = lines.index(heading)
    return _rows(lines, next(i for i in range(start, len(lines))
                             if lines[i].startswith("|")))


def test_readme_server_options_table_is_the_table():
    rows = _table("### Server options")
    documented = [(row[0].strip("`"), row[1], row[2], row[3], row[4])
                  for row in rows]
    expected = [(o.name, o.doc, o.default_doc, o.accepts(), ", ".join(
        "`%s`" % s for s in o.sources() if s != "ini"))
        for o in OPTIONS if o.ini]
    assert documented == expected


def test_readme_app_settings_table_names_every_site_setting():
    names = set()
    for row in _settings_rows():
        for cell in row[0].split(","):
            name = cell.strip().strip("`")
            if name != "anything else":
                names.add(name)
    assert names == {o.env for o in OPTIONS if o.env}


def _settings_rows():
    lines = _readme_lines()
    return _rows(lines, lines.index("| setting | meaning |"))


def test_the_servers_defaults_are_the_tables():
    import inspect
    from iiswsgi.gateway.server import IISWSGIServer
    parameters = inspect.signature(IISWSGIServer).parameters
    checked = 0
    for opt in OPTIONS:
        if opt.ini and opt.name in parameters and opt.name != "restart_regex":
            assert parameters[opt.name].default == opt.default, opt.name
            checked += 1
    assert checked >= 10
