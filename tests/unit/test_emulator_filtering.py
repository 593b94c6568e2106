"""IIS's request filtering in the emulator (iiswsgi.emulator.filtering),
on the model's RequestFiltering."""

import pytest

from iiswsgi.emulator.filtering import check_request
from iiswsgi.emulator.pages import Refusal
from iiswsgi.errors import IISWSGIError
from iiswsgi.iis.webconfig import RequestFiltering


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
