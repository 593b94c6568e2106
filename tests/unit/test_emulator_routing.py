"""Which application and handler take a request, and what the FastCGI
process is sent (iiswsgi.emulator.routing)."""

import pytest

from iiswsgi import safexml
from iiswsgi.emulator.config import Application, HandlerRule, Site
from iiswsgi.emulator.pages import Refusal
from iiswsgi.emulator.routing import (
    fastcgi_application, fastcgi_params, handler_for, raw_request_uri, route)
from iiswsgi.iis.webconfig import Configuration


def _site(tmp_path, apphost=None):
    return Site("Default Web Site", 2, [
        Application("/MyApp", str(tmp_path / "app")),
        Application("/", str(tmp_path / "root"))], [], apphost)


def _handler(path="*", verb="*", modules="FastCgiModule"):
    return HandlerRule.from_element(safexml.parse(
        '<add name="%s" path="%s" verb="%s" modules="%s"'
        ' scriptProcessor="p|a" />' % (path, path, verb, modules)),
        "web.config")


def test_route_to_the_application(tmp_path):
    site = _site(tmp_path)
    where = route(site, "/myapp/a/./b/../p%C3%A4th")
    assert (where.application.path, where.relative, where.url_path) == \
        ("/MyApp", "a/päth", "/myapp/a/päth")
    assert [app.path for app in where.parents] == ["/"]
    root = route(site, "/other")
    assert (root.application.path, root.relative, root.parents) == \
        ("/", "other", [])


def test_no_application_is_a_404(tmp_path):
    site = Site("s", 1, [Application("/only", str(tmp_path))], [])
    with pytest.raises(Refusal) as refused:
        route(site, "/elsewhere")
    assert refused.value.status == 404
    assert refused.value.detail == ("no application of site 's' takes"
                                    " /elsewhere (its applications: /only)")


def test_raw_request_uri():
    assert raw_request_uri({"REQUEST_URI": "/a%20b?x"}) == "/a%20b?x"
    assert raw_request_uri({"PATH_INFO": "/a b\xe9",
                            "QUERY_STRING": "q=1"}) == "/a%20b%E9?q=1"


def test_first_matching_handler():
    handlers = [_handler("*.py", "POST"), _handler("*.py"), _handler()]
    assert handler_for(handlers, "GET", "x.py") is handlers[1]
    assert handler_for(handlers, "POST", "x.py") is handlers[0]
    assert handler_for(handlers, "GET", "x.txt") is handlers[2]
    assert handler_for(handlers[:2], "GET", "x.txt") is None


def test_fastcgi_application(tmp_path):
    handler = _handler()
    # Without applicationHost.config: the site's own web.config registers
    # its handlers' processors, with IIS's defaults.
    root = Configuration(handlers=[handler])
    assert fastcgi_application(_site(tmp_path), handler, root).key == "p|a"
    with pytest.raises(Refusal) as refused:
        fastcgi_application(_site(tmp_path, "applicationHost.config"),
                            handler, root)
    assert (refused.value.status, refused.value.code) == (500, "0x80070585")
    assert refused.value.message == (
        "* scriptProcessor could not be found in <fastCGI> application"
        " configuration.")
    assert "matches no registered <fastCgi><application>" in \
        refused.value.detail


def test_a_sub_folder_web_config_registers_nothing(tmp_path):
    # A handler only a nested web.config names (an uploads folder's) is
    # not in the site's own configuration: IIS starts nothing for it.
    with pytest.raises(Refusal) as refused:
        fastcgi_application(_site(tmp_path), _handler(), Configuration())
    assert refused.value.status == 500
    assert refused.value.module == "FastCgiModule"
    assert "web.config" in refused.value.detail


def test_fastcgi_params(tmp_path):
    site = _site(tmp_path)
    where = route(site, "/MyApp/x")
    environ = {"REQUEST_METHOD": "POST", "HTTP_HOST": "example.test:8080",
               "SERVER_PORT": "8080", "CONTENT_LENGTH": "3",
               "CONTENT_TYPE": "text/plain", "REMOTE_ADDR": "10.0.0.1",
               "HTTP_X_LATIN": "caf\xe9"}
    params = dict(fastcgi_params(site, where, environ, "/MyApp/x?q",
                                 "127.0.0.1"))
    assert params[b"SERVER_NAME"] == b"example.test"
    assert params[b"APPL_MD_PATH"] == b"/LM/W3SVC/2/ROOT/MyApp"
    # IIS sends the whole path as both (the gateway splits them).
    assert params[b"SCRIPT_NAME"] == b"/MyApp/x"
    assert params[b"PATH_INFO"] == b"/MyApp/x"
    assert params[b"CONTENT_TYPE"] == b"text/plain"
    assert params[b"HTTP_X_LATIN"] == b"caf\xe9"
    assert params[b"REMOTE_ADDR"] == b"10.0.0.1"
