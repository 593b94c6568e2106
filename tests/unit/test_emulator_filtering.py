"""IIS's request filtering in the emulator (iiswsgi.emulator.filtering),
on the model's RequestFiltering."""

import pytest

from iiswsgi.emulator.filtering import check_request, check_url
from iiswsgi.emulator.pages import Refusal
from iiswsgi.errors import IISWSGIError
from iiswsgi.iis.webconfig import (ConfigError, RequestFiltering,
                                   read_web_config)


@pytest.mark.parametrize("url_path, relative, substatus", [
    ("/a%25b", "a%25b", 11),          # a double escape, once decoded
    ("/a+b", "a+b", 11),
    ("/app/bin/x.dll", "bin/x.dll", 8),
    ("/App_Data/x", "App_Data/x", 8),
    ("/x/web.config", "x/web.config", 8),
    ("/model.cs", "model.cs", 7),
    ("/file.MDB", "file.MDB", 7),
])
def test_refused_as_iis_refuses(url_path, relative, substatus):
    with pytest.raises(Refusal) as refused:
        check_request(RequestFiltering(), url_path, relative)
    assert (refused.value.status, refused.value.substatus,
            refused.value.module) == (404, substatus,
                                      "RequestFilteringModule")


@pytest.mark.parametrize("url_path, relative", [
    ("/", ""), ("/app/model.py", "app/model.py"), ("/binary/x", "binary/x"),
    ("/style.css", "style.css")])
def test_let_through(url_path, relative):
    assert check_request(RequestFiltering(), url_path, relative) is None


def test_allow_double_escaping_and_unlisted_extensions():
    filtering = RequestFiltering(allow_double_escaping=True,
                                 allow_unlisted_extensions=False,
                                 file_extensions={".py": True})
    check_request(filtering, "/a+b.py", "a+b.py")
    with pytest.raises(Refusal) as refused:
        check_request(filtering, "/a.css", "a.css")
    assert refused.value.substatus == 7


def test_refusal_is_an_iiswsgi_error():
    assert issubclass(Refusal, IISWSGIError)


def _filtering(folder, text):
    path = folder / "web.config"
    with open(path, "w", encoding="utf-8") as stream:
        stream.write("<configuration><system.webServer><security>"
                     "<requestFiltering>%s</requestFiltering></security>"
                     "</system.webServer></configuration>" % text)
    return read_web_config(str(path)).request_filtering


def _substatus(filtering, *args, **kw):
    with pytest.raises(Refusal) as refused:
        check_request(filtering, *args, **kw)
    assert refused.value.status == 404
    return refused.value.substatus


def test_request_limits_at_iis_defaults():
    filtering = RequestFiltering()
    assert (filtering.max_url, filtering.max_query_string,
            filtering.max_allowed_content_length) == (4096, 2048, 30000000)
    path = "/" + "a" * 4095
    check_request(filtering, path, path[1:], path, "q" * 2048, 30000000)
    longer = path + "a"
    assert _substatus(filtering, longer, longer[1:], longer) == 14
    assert _substatus(filtering, "/", "", "/", "q" * 2049) == 15
    assert _substatus(filtering, "/", "", "/", "", 30000001) == 13


def test_request_limits_and_deny_url_sequences_from_web_config(tmp_path):
    filtering = _filtering(
        tmp_path,
        '<requestLimits maxUrl="10" maxQueryString="3"'
        ' maxAllowedContentLength="5" />'
        '<denyUrlSequences><add sequence="~" /><add sequence="..%5C" />'
        "</denyUrlSequences>")
    assert filtering.deny_url_sequences == ("~", "..%5c")
    assert _substatus(filtering, "/~me", "~me", "/%7Eme") == 5
    # In the URL as sent, in any case.
    assert _substatus(filtering, "/a/b", "a/b", "/x/..%5cb") == 5
    assert _substatus(filtering, "/abcdefghij", "abcdefghij") == 14
    assert _substatus(filtering, "/", "", "/", "abcd") == 15
    assert _substatus(filtering, "/", "", "/", "", 6) == 13
    check_request(filtering, "/ok", "ok", "/ok", "abc", 5)


def test_deny_url_sequences_clear_and_remove(tmp_path):
    filtering = _filtering(
        tmp_path,
        '<denyUrlSequences><add sequence="a" /><add sequence="b" />'
        '<remove sequence="a" /></denyUrlSequences>')
    assert filtering.deny_url_sequences == ("b",)


def test_a_bad_request_limit_names_the_attribute(tmp_path):
    with pytest.raises(ConfigError) as error:
        _filtering(tmp_path, '<requestLimits maxUrl="long" />')
    assert "maxUrl" in str(error.value)


@pytest.mark.parametrize("url_path", ["/a\x00b", "/a\r\nb", "/\x7f", "/\t"])
def test_control_characters_are_http_sys_400(url_path):
    with pytest.raises(Refusal) as refused:
        check_url(url_path)
    assert (refused.value.status, refused.value.module) == (400, "HTTP.SYS")


def test_printable_urls_pass_check_url():
    assert check_url("/caf\u00e9/a b") is None
