"""What every test module shares: the rule for a missing tool (skipped on a
developer's machine, an error in CI), the one skip CI allows (the soak
tests, which need SOAK=1), and the fixtures more than one module uses.

Plain helpers stay in tests/support/ and tests/integration/peers_support.py;
pytest fixtures live here.
"""

import http.server
import logging
import os
import threading

import pytest

from tests.support.iis import Gateway, iis_params
from tests.support.wfastcgi import Collector, write_web_config

__all__ = ["SOAK_REASON", "in_ci", "require", "soak_only"]

#: The reason of the only skip allowed when CI is set.
SOAK_REASON = ("soak test: runs only with SOAK=1 (minutes long; CI does not"
               " set it)")

#: Mark for the soak tests: skipped unless SOAK=1, in CI too.
soak_only = pytest.mark.skipif(os.environ.get("SOAK") != "1",
                               reason=SOAK_REASON)

_OFF = ("", "0", "false", "no", "off")


def in_ci() -> bool:
    """True when the environment variable CI is set (.ci/run sets CI=1)."""
    return os.environ.get("CI", "").strip().lower() not in _OFF


def require(condition: object, why: str) -> None:
    """Go on when ``condition`` is true.  Otherwise skip the test, or, when
    CI is set, fail it: in CI everything the suite needs is installed by
    scripts/setup, so something missing is an error, not a reason to test
    less."""
    if condition:
        return
    if in_ci():
        pytest.fail("%s (CI is set, so this is an error: scripts/setup"
                    " installs what the tests need; run it)" % why,
                    pytrace=False)
    pytest.skip(why)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skip is a failure, except the soak tests' (SOAK_REASON):
    a test that skipped there tested nothing, and nobody would notice."""
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and in_ci()) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else (
        str(report.longrepr))
    if SOAK_REASON in reason:
        return
    report.outcome = "failed"
    report.longrepr = ("%s was skipped (%s), but CI is set: in CI only the"
                       " soak tests may skip; install what it needs"
                       " (scripts/setup) or fix the condition"
                       % (item.nodeid, reason))


# -- logging ------------------------------------------------------------------

@pytest.fixture
def iiswsgi_log(caplog):
    """caplog at DEBUG for iiswsgi's loggers, even after something has
    silenced them (Django's logging configuration disables existing
    loggers)."""
    loggers = [logging.getLogger(name) for name in (
        "iiswsgi", "iiswsgi.webpi", "iiswsgi.webpi.cache",
        "iiswsgi.webpi.reader", "iiswsgi.webpi.writer", "iiswsgi.publish",
        "iiswsgi.msdeploy", "iiswsgi.msdeploy.stamp")]
    saved = [(logger.disabled, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.disabled, logger.propagate = False, True
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="iiswsgi")
    yield caplog
    for logger, (disabled, propagate) in zip(loggers, saved):
        logger.disabled, logger.propagate = disabled, propagate


# -- the gateway started as IIS starts it, with the fault applications --------

@pytest.fixture
def fault_markers(tmp_path):
    """The folder where tests/apps/fault_apps.py and
    tests/reliability/stream_apps.py leave their marker files
    ($FAULT_MARKERS)."""
    folder = tmp_path / "markers"
    folder.mkdir()
    return folder


@pytest.fixture
def fault_gateway(tmp_path, fault_markers):
    """``start(args=("-m", "iiswsgi"), handler=..., env=None)``: a gateway
    (tests.support.iis.Gateway) serving ``handler`` (default
    ``fault_apps.application``), its log in tmp_path/iiswsgi.log; all
    killed at the end of the test."""
    started = []

    def start(args=("-m", "iiswsgi"), handler="fault_apps.application",
              env=None):
        environ = {"FAULT_MARKERS": str(fault_markers)}
        if handler:
            environ["WSGI_HANDLER"] = handler
        environ.update(env or {})
        gateway = Gateway(list(args), env=environ, cwd=str(tmp_path),
                          log=tmp_path / "iiswsgi.log")
        started.append(gateway)
        return gateway
    yield start
    for gateway in started:
        gateway.stop()


# -- wfastcgi-style hosting ---------------------------------------------------

@pytest.fixture
def site(tmp_path):
    """``start(args=("-m", "iiswsgi"), env=None, **settings)``: a gateway
    started the IIS way in a site folder whose web.config holds
    ``settings`` as appSettings.  ``site.folder`` is that folder,
    ``site.params(path, **kw)`` IIS's server variables for it."""
    started = []
    folder = tmp_path / "site"
    folder.mkdir()

    def start(args=("-m", "iiswsgi"), env=None, **settings):
        write_web_config(folder, **settings)
        gateway = Gateway(list(args), env=env, cwd=str(tmp_path),
                          log=tmp_path / "iiswsgi.log")
        started.append(gateway)
        return gateway
    start.folder = folder
    start.params = lambda path="/", **kw: iis_params(
        path, physical_path=str(folder) + os.sep, **kw)
    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def collector():
    """The URL of a loopback stand-in for the Application Insights
    ingestion endpoint; what it received is in ``Collector.received``."""
    Collector.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/" % server.server_port
    server.shutdown()
    server.server_close()


# -- the Web Deploy flow ------------------------------------------------------

@pytest.fixture(scope="module")
def python(tmp_path_factory):
    """A throw-away virtual environment (one per test module) that sees the
    test environment's packages, standing in for the system Python."""
    from iiswsgi.msdeploy.install import create_virtualenv
    return create_virtualenv(str(tmp_path_factory.mktemp("system") / "py"))
