"""iiswsgi.msdeploy.wheelhouse: the target's marker environment, the
closure over Requires-Dist, lock files, and real wheelhouses from PyPI
(click 8.0.4 needs colorama on Windows only)."""

import os
import zipfile

import pytest

from iiswsgi.msdeploy.wheelhouse import (Target, WheelhouseError,
                                         build_wheelhouse, cache_dir,
                                         missing_requirements,
                                         read_lock_file, requirements_file)
from packaging.requirements import Requirement


def test_windows_environment():
    environment = Target("3.13", "win_amd64").environment()
    assert {key: environment[key] for key in (
        "sys_platform", "platform_system", "os_name", "python_version",
        "platform_machine", "implementation_name")} == {
        "sys_platform": "win32", "platform_system": "Windows",
        "os_name": "nt", "python_version": "3.13",
        "platform_machine": "AMD64", "implementation_name": "cpython"}
    assert Target("3.12", "win32").environment()["platform_machine"] == "x86"


def test_linux_environment():
    environment = Target("3.11", "manylinux2014_x86_64").environment()
    assert (environment["sys_platform"], environment["platform_system"],
            environment["os_name"], environment["platform_machine"]) == (
        "linux", "Linux", "posix", "x86_64")
    assert Target("3.11", "manylinux_2_28_aarch64").environment()[
        "platform_machine"] == "aarch64"


def test_markers_for_the_target():
    windows = Target("3.13", "win_amd64")
    linux = Target("3.13", "manylinux2014_x86_64")
    marker = Requirement('colorama; platform_system == "Windows"').marker
    assert windows.marker_true(marker) and not linux.marker_true(marker)
    old = Requirement('tomli; python_version < "3.11"').marker
    assert not windows.marker_true(old)
    assert Target("3.10", "win_amd64").marker_true(old)
    extra = Requirement('pytest; extra == "test"').marker
    assert not windows.marker_true(extra)
    assert windows.marker_true(extra, {"test"})


def make_wheel(folder, name, version, requires=()):
    path = os.path.join(str(folder), "%s-%s-py3-none-any.whl"
                        % (name, version))
    metadata = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (
        name, version) + "".join("Requires-Dist: %s\n" % r for r in requires)
    info = "%s-%s.dist-info/" % (name, version)
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(info + "METADATA", metadata)
        wheel.writestr(info + "WHEEL", "Wheel-Version: 1.0\nGenerator:"
                       " test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(info + "RECORD", "%sMETADATA,,\n%sWHEEL,,\n%sRECORD,,"
                       "\n" % (info, info, info))
    return path


def test_missing_requirements_walks_from_the_roots(tmp_path):
    make_wheel(tmp_path, "app", "1.0", [
        "lib>=1", 'winonly; sys_platform == "win32"',
        'posixonly; os_name == "posix"', 'extra_dep; extra == "fast"'])
    make_wheel(tmp_path, "lib", "2.0", ['lib_win; platform_system=="Windows"'])
    make_wheel(tmp_path, "posixonly", "1.0")
    make_wheel(tmp_path, "unrelated", "1.0")
    missing, needed = missing_requirements(
        str(tmp_path), [Requirement("app==1.0")], Target("3.13", "win_amd64"))
    assert sorted(r.name for r in missing) == ["lib_win", "winonly"]
    assert needed == {"app", "lib"}
    missing, needed = missing_requirements(
        str(tmp_path), [Requirement("app[fast]==1.0")],
        Target("3.13", "manylinux2014_x86_64"))
    assert [r.name for r in missing] == ["extra_dep"]
    assert needed == {"app", "lib", "posixonly"}


def test_requirements_file_and_lock(tmp_path):
    assert requirements_file(str(tmp_path)) is None
    (tmp_path / "requirements.txt").write_text("flask\n")
    assert requirements_file(str(tmp_path)).endswith("requirements.txt")
    (tmp_path / "pylock.toml").write_text(
        'lock-version = "1.0"\n'
        '[[packages]]\nname = "click"\nversion = "8.0.4"\n'
        '[[packages]]\nname = "colorama"\nversion = "0.4.6"\n'
        'marker = \'sys_platform == "win32"\'\n')
    assert requirements_file(str(tmp_path)).endswith("pylock.toml")
    lock = str(tmp_path / "pylock.toml")
    assert read_lock_file(lock, Target("3.13", "win_amd64")) == [
        "click==8.0.4", "colorama==0.4.6"]
    assert read_lock_file(lock, Target("3.13", "manylinux2014_x86_64")) == [
        "click==8.0.4"]
    (tmp_path / "pylock.toml").write_text('[[packages]]\nname = "x"\n')
    with pytest.raises(WheelhouseError, match="number 1 needs a name and a"
                       " version"):
        read_lock_file(lock, Target("3.13", "win_amd64"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IISWSGI_WHEEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.slow
@pytest.mark.parametrize("platform, has_colorama", [
    ("win_amd64", True), ("manylinux2014_x86_64", False)])
def test_click_8_0_4_gets_colorama_on_windows_only(tmp_path, cache,
                                                   platform, has_colorama):
    project = make_wheel(tmp_path, "clicky", "1.0", ["click==8.0.4"])
    target = Target("3.13", platform)
    names = build_wheelhouse(str(tmp_path / "house"), project, target)
    assert "click-8.0.4-py3-none-any.whl" in names
    assert any(n.startswith("colorama-") for n in names) == has_colorama, \
        names
    assert "clicky-1.0-py3-none-any.whl" in names
    # Downloads are kept in iiswsgi's cache, one folder per target.
    assert cache_dir(target) == str(cache / ("py3.13-" + platform))
    assert "click-8.0.4-py3-none-any.whl" in os.listdir(cache_dir(target))


@pytest.mark.slow
def test_requirements_txt_pins_are_honoured(tmp_path, cache):
    project = make_wheel(tmp_path, "pinned", "1.0", ["itsdangerous"])
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("itsdangerous==2.1.2  # the pin\n")
    names = build_wheelhouse(str(tmp_path / "house"), project,
                             Target("3.13", "win_amd64"), str(requirements))
    assert "itsdangerous-2.1.2-py3-none-any.whl" in names, names


@pytest.mark.slow
def test_no_wheel_for_the_target_names_the_dependency(tmp_path, cache):
    project = make_wheel(tmp_path, "winapp", "1.0", ["pywin32"])
    with pytest.raises(WheelhouseError) as caught:
        build_wheelhouse(str(tmp_path / "house"), project,
                         Target("3.13", "manylinux2014_x86_64"))
    assert "no wheel of pywin32 for this target" in str(caught.value)
    assert "py3.13-manylinux2014_x86_64" in str(caught.value)


@pytest.mark.slow
@pytest.mark.parametrize("platform, wanted, unwanted", [
    ("win_amd64", "colorama", "uvloop"),
    ("manylinux2014_x86_64", "uvloop", "colorama")])
def test_pip_evaluates_markers_for_the_target(tmp_path, cache, platform,
                                              wanted, unwanted):
    """uvloop has no Windows wheel: asked for only because of this
    machine's markers, pip would fail before anything could drop it."""
    project = make_wheel(tmp_path, "markers", "1.0", [
        'uvloop==0.21.0; sys_platform != "win32"',
        'colorama==0.4.6; platform_system == "Windows"'])
    names = build_wheelhouse(str(tmp_path / "house"), project,
                             Target("3.13", platform))
    assert any(n.startswith(wanted + "-") for n in names), names
    assert not any(n.startswith(unwanted + "-") for n in names), names
