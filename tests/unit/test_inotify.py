"""The restart watcher on Linux's change notifications
(iiswsgi.gateway.inotify): every kind of change a scan notices is
reported without a scan, and what a scan skips stays skipped.  Real
files in tmp_path, a real watcher thread, real inotify; each wait has a
generous deadline, nothing is timed."""

import os
import shutil
import sys
import threading

import pytest

from iiswsgi.gateway import inotify, watch
from iiswsgi.gateway.watch import DEFAULT_RESTART_REGEX, Watcher

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="inotify is Linux's")

DEADLINE = 20


def _site(root):
    (root / "app" / "sub").mkdir(parents=True)
    (root / "app" / "views.py").write_text("x = 1\n")
    (root / "app" / "sub" / "deep.py").write_text("x = 1\n")
    (root / "app" / "data.txt").write_text("not watched\n")
    (root / "web.config").write_text("<configuration/>")
    venv = root / "venv"
    (venv / "lib" / "site-packages" / "dep").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "lib" / "site-packages" / "dep" / "mod.py").write_text("y\n")
    (venv / "lib" / "tool.py").write_text("y\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.py").write_text("")


class Seen:
    """What on_change was called with."""

    def __init__(self):
        self.paths = []
        self.event = threading.Event()

    def __call__(self, path):
        self.paths.append(path)
        self.event.set()


def _watching(root, regex=DEFAULT_RESTART_REGEX):
    seen = Seen()
    watcher = Watcher(str(root), regex, seen, interval=3600)
    watcher.baseline()
    watcher.start()
    # interval=3600: a scan would not come within the deadline, so what
    # is reported came through notifications.
    assert watcher.method == "notifications"
    return watcher, seen


def _reported(watcher, seen):
    assert seen.event.wait(DEADLINE), "no change reported"
    watcher.stop()
    return seen.paths


def _ignored_then(root, watcher, seen, ignored):
    """``ignored()`` changes what must not count, then a marker file
    changes: only the marker is reported (notifications come in order)."""
    ignored()
    (root / "web.config").write_text("<configuration>marker</configuration>")
    assert _reported(watcher, seen) == ["web.config"]


def test_a_changed_module(tmp_path):
    _site(tmp_path)
    watcher, seen = _watching(tmp_path)
    (tmp_path / "app" / "views.py").write_text("x = 2\n")
    assert _reported(watcher, seen) == [os.path.join("app", "views.py")]


def test_a_change_in_a_subfolder(tmp_path):
    _site(tmp_path)
    watcher, seen = _watching(tmp_path)
    (tmp_path / "app" / "sub" / "deep.py").write_text("x = 2\n")
    assert _reported(watcher, seen) == [
        os.path.join("app", "sub", "deep.py")]


def test_a_new_module_and_a_deleted_one(tmp_path):
    _site(tmp_path)
    watcher, seen = _watching(tmp_path)
    (tmp_path / "app" / "new.py").write_text("")
    assert _reported(watcher, seen) == [os.path.join("app", "new.py")]
    watcher, seen = _watching(tmp_path)
    (tmp_path / "app" / "views.py").unlink()
    assert _reported(watcher, seen) == [os.path.join("app", "views.py")]


def test_web_config_replaced_by_a_rename(tmp_path):
    """Editors and deployment tools write a new file and rename it over
    the old one."""
    _site(tmp_path)
    watcher, seen = _watching(tmp_path)
    (tmp_path / "web.config.tmp").write_text("<configuration>2"
                                             "</configuration>")
    os.replace(tmp_path / "web.config.tmp", tmp_path / "web.config")
    assert _reported(watcher, seen) == ["web.config"]


def test_a_touched_module(tmp_path):
    _site(tmp_path)
    watcher, seen = _watching(tmp_path)
    os.utime(tmp_path / "app" / "views.py", ns=(10**18, 10**18))
    assert _reported(watcher, seen) == [os.path.join("app", "views.py")]


def test_the_restart_regex_setting(tmp_path):
    """WSGI_RESTART_FILE_REGEX's files count, the others do not."""
    _site(tmp_path)
    watcher, seen = _watching(tmp_path, r".*\.txt$")
    (tmp_path / "app" / "views.py").write_text("x = 3\n")
    (tmp_path / "app" / "data.txt").write_text("changed\n")
    assert _reported(watcher, seen) == [os.path.join("app", "data.txt")]


def test_skipped_folders_stay_skipped(tmp_path):
    _site(tmp_path)
    watcher, seen = _watching(tmp_path)

    def ignored():
        (tmp_path / "venv" / "lib" / "site-packages" / "dep" /
         "mod.py").write_text("changed by pip\n")
        (tmp_path / "venv" / "lib" / "tool.py").write_text("changed\n")
        (tmp_path / "__pycache__" / "x.py").write_text("changed\n")
        (tmp_path / "app" / "data.txt").write_text("changed\n")
        (tmp_path / "node_modules" / "pkg").mkdir(parents=True)
        (tmp_path / "node_modules" / "pkg" / "x.py").write_text("")
        (tmp_path / "app" / "empty").mkdir()
    _ignored_then(tmp_path, watcher, seen, ignored)


def test_a_new_folder_is_watched(tmp_path):
    _site(tmp_path)
    watcher, seen = _watching(tmp_path)
    (tmp_path / "app" / "new" / "deeper").mkdir(parents=True)
    (tmp_path / "app" / "new" / "deeper" / "mod.py").write_text("")
    assert _reported(watcher, seen) == [
        os.path.join("app", "new", "deeper", "mod.py")]


def test_a_folder_moved_in_and_one_moved_out(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _site(site)
    outside = tmp_path / "outside"
    (outside / "pkg").mkdir(parents=True)
    (outside / "pkg" / "mod.py").write_text("")
    watcher, seen = _watching(site)
    os.rename(outside / "pkg", site / "app" / "pkg")
    assert _reported(watcher, seen) == [os.path.join("app", "pkg", "mod.py")]
    watcher, seen = _watching(site)
    os.rename(site / "app" / "sub", outside / "sub")
    assert _reported(watcher, seen) == [os.path.join("app", "sub", "deep.py")]


def test_a_folder_renamed_inside_is_watched_by_its_new_name(tmp_path):
    _site(tmp_path)
    (tmp_path / "app" / "sub" / "deep.py").unlink()
    watcher, seen = _watching(tmp_path)
    os.rename(tmp_path / "app" / "sub", tmp_path / "app" / "renamed")
    (tmp_path / "app" / "renamed" / "late.py").write_text("")
    assert _reported(watcher, seen) == [
        os.path.join("app", "renamed", "late.py")]


def test_a_deleted_folder(tmp_path):
    _site(tmp_path)
    watcher, seen = _watching(tmp_path)
    shutil.rmtree(tmp_path / "app" / "sub")
    assert _reported(watcher, seen) == [os.path.join("app", "sub", "deep.py")]


def test_the_site_folder_itself_goes_away(tmp_path):
    """Its notifications end: the watcher falls back to scanning, which
    finds the files gone.  (The folder is moved away, so no file inside
    it is notified first: removing it would notify app.py's deletion,
    which the watcher may report before it sees the folder go.)"""
    site = tmp_path / "site"
    site.mkdir()
    (site / "app.py").write_text("")
    seen = Seen()
    watcher = Watcher(str(site), DEFAULT_RESTART_REGEX, seen, interval=0.05)
    watcher.baseline()
    watcher.start()
    site.rename(tmp_path / "elsewhere")
    assert _reported(watcher, seen) == ["app.py"]
    assert watcher.method == "scan"


def test_the_site_folder_removed_is_reported(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "app.py").write_text("")
    seen = Seen()
    watcher = Watcher(str(site), DEFAULT_RESTART_REGEX, seen, interval=0.05)
    watcher.baseline()
    watcher.start()
    shutil.rmtree(site)
    assert _reported(watcher, seen) == ["app.py"]


def test_stop_ends_the_thread_and_frees_the_descriptor(tmp_path):
    _site(tmp_path)
    watcher, seen = _watching(tmp_path)
    fd = watcher._changes._fd
    watcher.stop()
    watcher._thread.join(DEADLINE)
    assert not watcher._thread.is_alive()
    assert not seen.paths
    with pytest.raises(OSError):
        os.fstat(fd)


def test_a_watcher_stopped_before_it_started_closes(tmp_path):
    _site(tmp_path)
    watcher = Watcher(str(tmp_path), DEFAULT_RESTART_REGEX, print)
    watcher.baseline()
    changes = watcher._changes
    assert changes.watches == 3         # the root, app, app/sub
    watcher.stop()
    with pytest.raises(OSError):
        os.fstat(changes._fd)


def test_without_inotify_the_watcher_scans(tmp_path, monkeypatch, caplog):
    """Where inotify_init1 or a watch fails (here: no libc with inotify),
    the watcher scans, and still sees the change."""
    _site(tmp_path)
    monkeypatch.setattr(inotify, "_libc", False)
    seen = Seen()
    watcher = Watcher(str(tmp_path), DEFAULT_RESTART_REGEX, seen, 0.05)
    watcher.baseline()
    watcher.start()
    assert watcher.method == "scan"
    (tmp_path / "app" / "views.py").write_text("x = 2, longer\n")
    assert _reported(watcher, seen) == [os.path.join("app", "views.py")]


def test_the_watch_limit_falls_back_to_scanning(tmp_path, monkeypatch,
                                                 caplog):
    """fs.inotify.max_user_watches reached (ENOSPC from
    inotify_add_watch, made here by a libc whose inotify_add_watch fails
    so): a warning naming the setting, then scans."""
    import ctypes
    import errno
    real = inotify._library()

    class FullLibc:
        inotify_init1 = real.inotify_init1
        inotify_rm_watch = real.inotify_rm_watch

        @staticmethod
        def inotify_add_watch(fd, path, mask):
            ctypes.set_errno(errno.ENOSPC)
            return -1
    monkeypatch.setattr(inotify, "_libc", FullLibc)
    _site(tmp_path)
    seen = Seen()
    watcher = Watcher(str(tmp_path), DEFAULT_RESTART_REGEX, seen, 0.05)
    with caplog.at_level("WARNING", logger="iiswsgi.gateway.watch"):
        watcher.baseline()
    assert "max_user_watches" in caplog.text
    watcher.start()
    assert watcher.method == "scan"
    (tmp_path / "web.config").write_text("<configuration>x</configuration>")
    assert _reported(watcher, seen) == ["web.config"]


def test_a_local_folder_is_not_remote(tmp_path):
    assert inotify.remote_filesystem(str(tmp_path)) is None
    changes = watch._open_inotify(str(tmp_path))
    assert changes is not None
    changes.close()


def test_a_site_folder_reached_through_a_link(tmp_path):
    """The site's folder may be a symbolic link (as a scan follows it);
    a link to a folder inside it is not followed, as by a scan."""
    real = tmp_path / "real"
    real.mkdir()
    _site(real)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "linked.py").write_text("")
    (real / "app" / "link").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "site").symlink_to(real)
    watcher, seen = _watching(tmp_path / "site")

    def ignored():
        (tmp_path / "elsewhere" / "linked.py").write_text("changed\n")
    _ignored_then(tmp_path / "site", watcher, seen, ignored)
