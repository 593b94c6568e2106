"""The README's advice for a web server whose workers run as another user
(Debian's www-data): with ``umask = 007`` the socket is writable by its
group only, so a gateway started with www-data's group serves, and one
started with its own group is refused by the kernel ("permission
denied", the web server's 502 or 503).  Real users: this needs root, as
Apache and nginx do to switch their workers to www-data."""

import grp
import os
import shutil

import pytest

from tests.conftest import require
from tests.support import servers

APP = "call:matrix_app:make_app"
WORKERS = "www-data"


def get(port):
    return servers.http_get(port, "/echo/users")


class NginxAsWorkers(servers.Nginx):
    """nginx as Debian runs it: workers as www-data (the matrix keeps them
    as the user running the tests)."""

    def config(self, port):
        text = super().config(port)
        user = servers.nginx_user_line()
        assert user, "nginx switches users only when started as root"
        return text.replace(user, "user %s;\n" % WORKERS, 1)


@pytest.fixture(autouse=True)
def as_root():
    require(os.geteuid() == 0,
            "switching web server workers to www-data needs root")
    require(shutil.which("setpriv") is not None,
            "setpriv (util-linux) starts the gateway with another group")
    try:
        grp.getgrnam(WORKERS)
    except KeyError:
        require(False, "there is no %s group here" % WORKERS)


def in_group(group):
    """The gateway's command prefix: the same user, ``group`` as its only
    group, so the socket it creates belongs to ``group``."""
    return [shutil.which("setpriv"), "--regid=%s" % group, "--clear-groups"]


SETUPS = [("apache-proxy-fcgi", None, 503), ("nginx", NginxAsWorkers, 502)]


@pytest.mark.parametrize("name, server_class, refused", SETUPS)
def test_gateway_in_the_workers_group_serves(name, server_class, refused):
    with servers.server_site(name, APP, {"umask": "007"},
                             gateway_prefix=in_group(WORKERS),
                             server_class=server_class) as site:
        mode = os.stat(site.server.sock)
        assert grp.getgrgid(mode.st_gid).gr_name == WORKERS
        assert mode.st_mode & 0o777 == 0o770
        status, body = get(site.port)
        assert status == 200, (body, site.server.logs())


@pytest.mark.parametrize("name, server_class, refused", SETUPS)
def test_gateway_in_another_group_is_refused(name, server_class, refused):
    with servers.server_site(name, APP, {"umask": "007"},
                             gateway_prefix=in_group("root"),
                             server_class=server_class) as site:
        status, body = get(site.port)
        assert status == refused, body
        assert "Permission denied" in site.server.logs()
