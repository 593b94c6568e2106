"""iiswsgi.iis.expand: %NAME% as Windows expands it, and as wfastcgi did
for PYTHONPATH."""

from iiswsgi.iis.expand import expand_variables

ENV = {"Home": "C:\\site", "EMPTY": "", "SystemDrive": "C:"}


def test_known_names_in_any_case():
    assert expand_variables("%HOME%\\lib;%home%\\x", ENV) == \
        "C:\\site\\lib;C:\\site\\x"
    assert expand_variables("%systemdrive%\\inetpub", ENV) == "C:\\inetpub"


def test_unknown_names_are_kept_as_windows_keeps_them():
    assert expand_variables("%SYSTEMDRIVE%\\%NOPE%\\x", ENV) == \
        "C:\\%NOPE%\\x"


def test_unknown_names_become_empty_for_pythonpath():
    assert expand_variables("%HOME%\\lib;%Missing%;%empty%x", ENV,
                            keep_unknown=False) == "C:\\site\\lib;;x"


def test_a_lone_percent_is_text():
    assert expand_variables("100%", ENV) == "100%"
    assert expand_variables("100%", ENV, keep_unknown=False) == "100%"


def test_a_reference_does_not_span_a_semicolon():
    # PYTHONPATH entries are separated by ";": "a%;b%" names no variable.
    assert expand_variables("a%;b%", {"A": "x"}) == "a%;b%"


def test_names_as_given_win_over_names_in_another_case():
    from iiswsgi.iis.expand import WindowsNames
    names = WindowsNames({"path": "lower", "PATH": "upper", "Home": "h"})
    assert names.get("path") == "lower"
    assert names.get("PATH") == "upper"
    assert names.get("Path") == "lower"      # the first in any case
    assert names.get("HOME") == "h"
    assert names.get("missing") is None
