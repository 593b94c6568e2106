"""iiswsgi.gateway.watch: what the watcher scans, what it skips, and that
it leaves a request the GIL (real files in tmp_path, a real thread)."""

import os
import sys
import threading
import time

import pytest

from iiswsgi.gateway.watch import DEFAULT_RESTART_REGEX, Watcher


def _tree(root):
    (root / "app").mkdir()
    (root / "app" / "views.py").write_text("x = 1\n")
    (root / "web.config").write_text("<configuration/>")
    venv = root / "venv"
    (venv / "lib" / "python3.12" / "site-packages" / "dep").mkdir(
        parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "lib" / "python3.12" / "site-packages" / "dep" /
     "mod.py").write_text("y = 1\n")
    for name in ("__pycache__", ".git", "node_modules", "site-packages"):
        (root / name).mkdir()
        (root / name / "ignored.py").write_text("z = 1\n")
    (root / "env2").mkdir()             # a venv under another name
    (root / "env2" / "pyvenv.cfg").write_text("")
    (root / "env2" / "tool.py").write_text("")


def test_scan_skips_folders_that_cannot_matter(tmp_path):
    _tree(tmp_path)
    found = Watcher(str(tmp_path), DEFAULT_RESTART_REGEX, print).scan()
    assert sorted(found) == [os.path.join("app", "views.py"), "web.config"]


def test_a_change_in_a_venv_is_not_one_in_the_site(tmp_path):
    _tree(tmp_path)
    watcher = Watcher(str(tmp_path), DEFAULT_RESTART_REGEX, print)
    watcher.baseline()
    (tmp_path / "venv" / "lib" / "python3.12" / "site-packages" / "dep" /
     "mod.py").write_text("y = 2, changed by pip\n")
    (tmp_path / "__pycache__" / "ignored.py").write_text("changed")
    assert watcher.changed() is None
    (tmp_path / "app" / "views.py").write_text("x = 2, a longer line\n")
    assert watcher.changed() == os.path.join("app", "views.py")


@pytest.mark.parametrize("notifications", [True, False])
def test_the_thread_reports_a_change_from_the_baseline(tmp_path,
                                                       notifications):
    """The baseline is taken when asked (before the first request), not
    when the thread starts: a change in between is reported."""
    _tree(tmp_path)
    seen = []
    done = threading.Event()
    watcher = Watcher(str(tmp_path), DEFAULT_RESTART_REGEX,
                      lambda path: (seen.append(path), done.set()), 0.05,
                      notifications=notifications)
    watcher.baseline()
    (tmp_path / "web.config").write_text("<configuration>changed"
                                         "</configuration>")
    watcher.start()
    assert done.wait(10)
    watcher.stop()
    assert seen == ["web.config"]
    if not notifications:
        assert watcher.method == "scan"
    elif sys.platform.startswith("linux"):
        assert watcher.method == "notifications"    # inotify


def test_a_scan_pauses_while_a_request_is_served(tmp_path, monkeypatch):
    from iiswsgi.gateway import watch
    for n in range(2000):
        (tmp_path / ("m%04d.py" % n)).write_text("")
    pauses = []

    class Clock:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def sleep(seconds):
            pauses.append(seconds)
            time.sleep(seconds)
    monkeypatch.setattr(watch, "time", Clock)
    busy = [False]
    watcher = Watcher(str(tmp_path), DEFAULT_RESTART_REGEX, print,
                      busy=lambda: busy[0])
    assert len(watcher.scan()) == 2000
    assert pauses == []                 # nobody to make way for
    busy[0] = True
    assert len(watcher.scan()) == 2000
    # 2,000 entries: asked every 200, a pause each time.
    assert pauses == [watch._PAUSE_SECONDS] * 10
