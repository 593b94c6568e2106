"""tests/conftest.py's rule, run in a real pytest process on a small test
file: with CI set, a missing tool (``require``) and any other skip fail,
except the soak tests' skip; without CI they are skips."""

import os
import subprocess
import sys

import pytest

from tests.support.iis import ROOT

SAMPLE = '''
import pytest
from tests.conftest import require, soak_only

def test_missing_tool():
    require(None, "frobnicate is not installed")

def test_present_tool():
    require("/usr/bin/true", "never shown")

@pytest.mark.skipif(True, reason="some condition")
def test_skipif():
    pass

@soak_only
def test_soak():
    pass

@pytest.mark.xfail(reason="expected", strict=True)
def test_xfail():
    assert False
'''

CONFTEST = "from tests.conftest import pytest_runtest_makereport  # noqa\n"


def outcomes(tmp_path, ci):
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("CI", None)
    env.pop("SOAK", None)
    if ci is not None:
        env["CI"] = ci
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider",
         "-o", "addopts=", str(tmp_path / "test_sample.py")],
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=120)
    found = {}
    for line in result.stdout.splitlines():
        for word in ("PASSED", "FAILED", "SKIPPED", "XFAIL", "ERROR"):
            if line.startswith(word + " "):
                rest = line[len(word) + 1:]
                name = rest.split("::")[-1].split(" ")[0] if "::" in rest \
                    else rest
                found.setdefault(word, []).append(name)
    return found, result.stdout


@pytest.mark.parametrize("ci", ["1"])
def test_in_ci_only_the_soak_test_may_skip(tmp_path, ci):
    found, output = outcomes(tmp_path, ci)
    # A skipif mark is judged at set-up: its failure is an ERROR.
    assert found.get("FAILED") == ["test_missing_tool"], output
    assert found.get("ERROR") == ["test_skipif"], output
    assert found.get("PASSED") == ["test_present_tool"], output
    assert len(found.get("SKIPPED", [])) == 1, output
    assert "SOAK=1" in output
    assert found.get("XFAIL") == ["test_xfail"], output
    assert "frobnicate is not installed (CI is set" in output


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_missing_tools_skip(tmp_path, ci):
    found, output = outcomes(tmp_path, ci)
    assert "FAILED" not in found and "ERROR" not in found, output
    assert found.get("PASSED") == ["test_present_tool"], output
    assert len(found.get("SKIPPED", [])) == 3, output
    assert "frobnicate is not installed" in output
