"""Apache mod_proxy_fcgi and PATH_INFO: without the README recipe's
``ProxyFCGISetEnvIf`` lines Apache sends the whole path as SCRIPT_NAME and
no PATH_INFO, so a routing application sees every page as its root; with
them it sees the right PATH_INFO, at the root and under /app.  (The
matrix runs the recipe itself; this shows what its lines are for.)"""

import json
import re

import pytest

from tests.support.servers import http_get as get, server_site

APP = "call:matrix_app:make_app"


def without_set_env(text):
    """The recipe without its ``<Location>`` blocks of ProxyFCGISetEnvIf."""
    edited = re.sub(r"    <Location \"[^\"]*\">\n(?:        .*\n)*?    </Location>"
                    r"\n", "", text)
    assert "ProxyFCGISetEnvIf" not in edited, edited
    return edited


@pytest.fixture(scope="module")
def bare_apache():
    with server_site("apache-proxy-fcgi", APP,
                     edit_recipe=without_set_env) as site:
        yield site


@pytest.fixture(scope="module")
def recipe_apache():
    with server_site("apache-proxy-fcgi", APP) as site:
        yield site


def test_without_the_recipe_the_path_is_all_script_name(bare_apache):
    status, body = get(bare_apache.port, "/echo/some/where")
    # The application routes on PATH_INFO, which is empty: no route.
    assert status == 404, body
    assert body == (b"unknown route: SCRIPT_NAME '/echo/some/where',"
                    b" PATH_INFO ''\n")


@pytest.mark.parametrize("path, script_name, path_info", [
    ("/echo/some/where", "", "/echo/some/where"),
    ("/app/echo/some/where", "/app", "/echo/some/where"),
    ("/echo/caf%C3%A9", "", "/echo/caf\u00c3\u00a9"),
])
def test_with_the_recipe_a_routed_app_sees_path_info(recipe_apache, path,
                                                      script_name, path_info):
    status, body = get(recipe_apache.port, path)
    assert status == 200, body
    answer = json.loads(body)
    assert (answer["script_name"], answer["path_info"]) == (script_name,
                                                            path_info)
