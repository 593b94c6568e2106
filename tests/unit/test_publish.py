"""iiswsgi.publish against real folders and a real HTTP server on loopback
(tests/support/put_server.py) that checks a token and fails on demand."""

import hashlib
import os
import stat

import pytest

from iiswsgi.errors import IISWSGIError
from iiswsgi.publish import (DirectoryDestination, HttpDestination,
                             PublishError, parse_destination, publish,
                             redact)
from tests.support.put_server import PutServer

TOKEN = "s3cr3t-T0KEN.xyz"
# A token that is a segment of the URL's path, as some upload services
# take it.
PATH_TOKEN = "Xk29fLq8Zr7Tn3Wm5Vb1Yc4Hd6Ja0Ps2"


@pytest.fixture
def files(tmp_path):
    paths = []
    for name, size in (("App-1.0.msdeploy.zip", 5000), ("App-1.0.webpi.xml",
                                                         300)):
        path = tmp_path / "dist" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(os.urandom(size))
        paths.append(str(path))
    return paths


@pytest.fixture
def server():
    with PutServer(TOKEN) as running:
        yield running


def run(paths, destination, **options):
    lines = []
    options.setdefault("sleep", lambda seconds: None)
    result = publish(paths, destination, progress=lines.append, **options)
    return result, lines


def test_redact():
    assert redact("PUT https://u:p@h.net/c/a.zip?sv=1&sig=x failed") == \
        "PUT https://[redacted]@h.net/c/a.zip?[redacted] failed"
    assert redact("token abc and a%2Bb", ["abc", "a+b"]) == \
        "token [redacted] and [redacted]"


def test_directory(files, tmp_path):
    target = tmp_path / "share"
    target.mkdir()
    published, lines = run(files, parse_destination(str(target)))
    for path in files:
        copy = target / os.path.basename(path)
        assert copy.read_bytes() == open(path, "rb").read()
    assert [p.sha1 for p in published] == [
        hashlib.sha1(open(p, "rb").read()).hexdigest().upper()
        for p in files]
    assert len(lines) == 4 and "verified" in lines[1]
    assert sorted(os.listdir(target)) == sorted(map(os.path.basename, files))
    url = parse_destination("file://" + str(target))
    assert isinstance(url, DirectoryDestination) and url.path == str(target)


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_a_published_copy_is_readable_as_the_umask_allows(files, tmp_path):
    """Not the 0600 of a private temporary file: the web server serving
    the share must be able to read what was published."""
    target = tmp_path / "share"
    target.mkdir()
    old = os.umask(0o022)
    try:
        run(files[:1], parse_destination(str(target)))
    finally:
        os.umask(old)
    copy = target / os.path.basename(files[0])
    assert stat.S_IMODE(os.stat(copy).st_mode) == 0o644


def test_missing_directory_is_an_error(files, tmp_path):
    with pytest.raises(PublishError, match="the destination folder .* does"
                       " not exist"):
        run(files, parse_destination(str(tmp_path / "nope")))


def test_http_put_with_token_from_the_environment(files, server):
    destination = parse_destination(
        server.url + "/c/{filename}?sv=1&sig=${TOKEN_VAR}",
        ["x-ms-blob-type: BlockBlob"], {"TOKEN_VAR": TOKEN})
    assert isinstance(destination, HttpDestination)
    published, lines = run(files, destination)
    for path in files:
        assert server.blobs["/c/" + os.path.basename(path)] == \
            open(path, "rb").read()
    puts = [r for r in server.requests if r[0] == "PUT"]
    headers = {k.lower(): v for k, v in puts[0][2].items()}
    assert headers["x-ms-blob-type"] == "BlockBlob"
    assert headers["content-type"] == "application/zip"
    assert all(p.attempts == 1 for p in published)
    assert TOKEN not in "".join(lines)
    assert "?[redacted]" in lines[0]


@pytest.mark.parametrize("failures, attempts", [
    (["503"], 2), (["drop", "drop"], 3), (["corrupt"], 2)])
def test_transient_failures_are_retried(files, server, failures, attempts,
                                        iiswsgi_log):
    caplog = iiswsgi_log
    server.fail = list(failures)
    destination = parse_destination(
        server.url + "/c/", ["Authorization: Bearer ${T}"], {"T": TOKEN})
    published, lines = run(files[:1], destination, delay=0.01)
    assert published[0].attempts == attempts
    assert sum("failed" in line and "retrying" in line
               for line in lines) == attempts - 1
    assert server.blobs["/c/" + os.path.basename(files[0])] == \
        open(files[0], "rb").read()
    assert TOKEN not in "\n".join(lines) + caplog.text


def test_wrong_token_fails_at_once_without_showing_it(files, server,
                                                     iiswsgi_log):
    caplog = iiswsgi_log
    wrong = "wrong-" + TOKEN
    destination = parse_destination(server.url + "/c/{filename}?sig=" + wrong)
    with pytest.raises(PublishError) as raised:
        run(files, destination)
    message = str(raised.value)
    assert "answered 403 Forbidden" in message
    assert "check the credentials or token" in message
    assert wrong not in message and "sig=" not in message
    assert wrong not in caplog.text
    assert len([r for r in server.requests if r[0] == "PUT"]) == 1


def test_persistent_failure_gives_up(files, server):
    server.fail = ["503"] * 3
    destination = parse_destination(server.url + "/c/?sig=" + TOKEN)
    with pytest.raises(PublishError, match=r"failed after 3 attempts: PUT"
                       r" http://127.0.0.1:\d+/c/App-1.0.msdeploy.zip"
                       r"\?\[redacted\] answered 503") as raised:
        run(files, destination, attempts=3)
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize("destination, headers, message", [
    ("", (), "no destination"),
    ("https://h/${NOPE}", (), r"uses \$\{NOPE\}, but the environment"
                              " variable NOPE is not set"),
    ("https://h/", ("no colon",), "is not 'Name: value'"),
    ("/tmp", ("A: b",), "headers .* are for http"),
    ("ftp://u:pw@h/x", (), r"cannot publish to ftp://\[redacted\]@h/x"),
])
def test_bad_destinations(destination, headers, message):
    with pytest.raises(PublishError, match=message):
        parse_destination(destination, headers, {})


def test_publish_error_is_an_iiswsgi_error():
    with pytest.raises(IISWSGIError, match="no destination"):
        parse_destination(" ")


@pytest.mark.parametrize("bad, what", [
    ("/c/my folder/{filename}", "a space at position"),
    ("/c/tab\there/", "a tab at position"),
    ("/c/caf\u00e9/", "the character U\\+00E9"),
])
def test_a_destination_that_is_no_url_is_refused_up_front(server, bad, what):
    with pytest.raises(PublishError, match=what) as raised:
        parse_destination(server.url + bad + "?sv=1&sig=" + TOKEN)
    message = str(raised.value)
    assert TOKEN not in message and "?[redacted]" in message
    assert "percent-encode it" in message
    assert server.requests == []


def test_a_bad_port_is_refused_up_front():
    with pytest.raises(PublishError, match="has a bad port") as raised:
        parse_destination("https://h.net:44x3/c/?sig=" + TOKEN)
    assert TOKEN not in str(raised.value)


def test_header_values_echoed_back_are_redacted(files, server, iiswsgi_log):
    server.echo_headers = True
    literal = "Bearer literal-Tok3n-99f"
    destination = parse_destination(
        server.url + "/c/", ["Authorization: " + literal,
                             "X-Upload-Key: k3y-Value-Qq7"])
    with pytest.raises(PublishError, match="answered 403") as raised:
        run(files[:1], destination)
    message = str(raised.value)
    assert "Authorization: [redacted]" in message
    for secret in ("literal-Tok3n-99f", "k3y-Value-Qq7"):
        assert secret not in message and secret not in iiswsgi_log.text
    # Plain headers stay readable.
    assert "Content-Type: application/zip" in message


def test_a_token_in_the_url_path_is_redacted(files, server, iiswsgi_log):
    destination = parse_destination(
        server.url + "/c/" + PATH_TOKEN + "/{filename}")
    with pytest.raises(PublishError, match="answered 403") as raised:
        run(files[:1], destination)
    assert PATH_TOKEN not in str(raised.value)
    assert "/c/[redacted]/App-1.0.msdeploy.zip" in str(raised.value)
    assert PATH_TOKEN not in iiswsgi_log.text


def test_a_header_with_a_line_break_is_refused():
    with pytest.raises(PublishError, match="the header X-A holds a control"
                       " character") as raised:
        parse_destination("https://h/", ["X-A: ${V}"],
                          {"V": "a-Secret-8\r\nX-Injected: 1"})
    assert "a-Secret-8" not in str(raised.value)
