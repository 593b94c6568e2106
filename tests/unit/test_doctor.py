"""iiswsgi.doctor's pieces that need no IIS: the log check (which must
change nothing) and the fix chosen for each load error."""

import os

import pytest

from iiswsgi import doctor


def _tree(folder):
    return sorted((top, sorted(dirs), sorted(files), os.stat(top).st_mtime_ns)
                  for top, dirs, files in os.walk(folder))


def test_log_file_problem_creates_nothing(tmp_path):
    before = _tree(tmp_path)
    assert doctor.log_file_problem(str(tmp_path / "a" / "b" / "x.log")) is None
    assert doctor.log_file_problem(str(tmp_path / "x.log")) is None
    assert _tree(tmp_path) == before


def test_log_file_problem_reasons(tmp_path):
    (tmp_path / "file").write_text("")
    assert doctor.log_file_problem(str(tmp_path / "file" / "x.log")) == (
        "%s is a file, not a folder" % (tmp_path / "file"))
    assert doctor.log_file_problem(str(tmp_path)) == "it is a folder"
    (tmp_path / "link.log").symlink_to(tmp_path / "file")
    assert "link" in doctor.log_file_problem(str(tmp_path / "link.log"))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="chown needs root")
def test_log_file_problem_another_users_file(tmp_path):
    path = tmp_path / "x.log"
    path.write_text("")
    os.chown(path, 65534, 65534)
    assert doctor.log_file_problem(str(path)) == (
        "it belongs to another user (uid 65534)")


def test_attribute_is_valid_xml():
    from iiswsgi import safexml
    value = '"C:\\Program Files\\Python\\python.exe"|-m iiswsgi'
    element = safexml.parse("<add scriptProcessor=%s />"
                            % doctor._attribute(value))
    assert element.get("scriptProcessor") == value


@pytest.mark.parametrize("loaded, message, fix", [
    ({"type": "HandlerError", "message": "m", "handler": {
        "missing_module": "pkg.wsgii", "parent": "pkg", "package": True}},
     "the module pkg.wsgii cannot be imported (the package pkg has no"
     " module wsgii)", "check the module part of WSGI_HANDLER for a typo"),
    ({"type": "HandlerError", "message": "m", "handler": {
        "missing_attribute": "ap", "parent": "app", "names": ["app"]}},
     "the module app has no ap",
     "name the application after the module in WSGI_HANDLER: app.app"),
    ({"type": "ModuleNotFoundError", "message": "No module named 'yaml'",
      "name": "yaml", "where": ["C:\\site\\app.py", 3]},
     "ModuleNotFoundError: No module named 'yaml'",
     "install yaml for the site's interpreter"),
    ({"type": "SyntaxError", "message": "invalid syntax",
      "syntax": ["C:\\site\\app.py", 7]},
     "SyntaxError: invalid syntax",
     "correct the syntax of C:\\site\\app.py, line 7"),
    ({"type": "KeyError", "message": "'X'", "where": ["C:\\site\\app.py", 9]},
     "KeyError: 'X'", "the application raised it at C:\\site\\app.py, line 9"),
])
def test_each_error_gets_its_own_fix(loaded, message, fix):
    said, to_do = doctor._explain(loaded, "pkg.wsgii.application")
    assert said == message
    assert to_do.startswith(fix)
