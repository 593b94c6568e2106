"""``setup.py bdist_msdeploy bdist_webpi upload``, as the seed workflow
writes it, run for real against a blob store on loopback
(tests/support/put_server.py) and a folder: the files arrive intact, the
feed read back is valid, transient failures are retried, and the token is
never shown."""

import os

import pytest

from iiswsgi import webpi
from tests.integration.test_msdeploy_commands import setup_py
from tests.integration.webpi_support import copy_examples
from tests.support.put_server import PutServer

TOKEN = "sv2024-sig-Zm9vYmFyYmF6cXV4"
BUILD = ("install_msdeploy", "--install-method=none", "-S",
         "bdist_msdeploy", "--skip-install", "bdist_webpi")


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("UPLOAD_SAS", "sig=" + TOKEN)
    monkeypatch.setenv("UPLOAD_TOKEN", TOKEN)
    return copy_examples(tmp_path) / "sample.msdeploy"


def dist_files(project):
    return sorted(os.listdir(project / "dist"))


@pytest.mark.parametrize("failures, headers", [
    ([], ()),
    (["503", "drop", "corrupt"], ()),
    ([], ("-H", "Authorization: Bearer ${UPLOAD_TOKEN}")),
])
def test_seed_workflow_to_http(project, failures, headers):
    with PutServer(TOKEN) as server:
        server.fail = list(failures)
        destination = server.url + "/releases/{filename}" + (
            "" if headers else "?sv=1&${UPLOAD_SAS}")
        result = setup_py(project, *BUILD, "upload", "-r", destination,
                          "--retry-delay", "0.01", *headers)
        assert result.returncode == 0, result.stdout
        assert TOKEN not in result.stdout
        names = dist_files(project)
        assert len(names) == 2
        for name in names:
            assert server.blobs["/releases/" + name] == \
                (project / "dist" / name).read_bytes()
            assert "published %s: " % name in result.stdout
        # The zip goes first, so the feed never names a missing file.
        puts = [path for method, path, _ in server.requests
                if method == "PUT"]
        assert puts[-1].startswith("/releases/WSGISampleIISApp-0.2.webpi.xml")
        feed = server.blobs["/releases/WSGISampleIISApp-0.2.webpi.xml"]
        webpi.check_feed(feed)
        assert result.stdout.count("retrying in") == len(failures)
        if not headers:
            assert "/releases/WSGISampleIISApp-0.2.webpi.xml?[redacted]" in \
                result.stdout
    assert "upload: 2 files published" in result.stdout


def test_wrong_token_is_refused_and_not_shown(project, monkeypatch):
    monkeypatch.setenv("UPLOAD_SAS", "sig=wrong" + TOKEN)
    with PutServer(TOKEN) as server:
        result = setup_py(project, *BUILD, "upload", "-r",
                          server.url + "/releases/?${UPLOAD_SAS}")
    assert result.returncode != 0
    assert "answered 403 Forbidden" in result.stdout
    assert "check the credentials or token" in result.stdout
    assert TOKEN not in result.stdout
    assert "Traceback" not in result.stdout
    assert server.blobs == {}


def test_publish_to_a_folder_from_setup_cfg(project, tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    with open(project / "setup.cfg", "a") as config:
        config.write("\n[publish_msdeploy]\ndestination = %s\n" % share)
    result = setup_py(project, *BUILD, "upload")
    assert result.returncode == 0, result.stdout
    assert sorted(os.listdir(share)) == dist_files(project)
    for name in os.listdir(share):
        assert (share / name).read_bytes() == \
            (project / "dist" / name).read_bytes()
    # publish_msdeploy by its own name, naming the files.
    again = tmp_path / "again"
    again.mkdir()
    result = setup_py(project, "publish_msdeploy", "-r", str(again), "-f",
                      "dist/WSGISampleIISApp-0.2.webpi.xml")
    assert result.returncode == 0, result.stdout
    assert os.listdir(again) == ["WSGISampleIISApp-0.2.webpi.xml"]


@pytest.mark.parametrize("args, message", [
    (("upload",), "upload: nothing to publish: run it after bdist_msdeploy"),
    (BUILD + ("upload",), "upload: no destination: give -r/--destination"),
    (BUILD + ("upload", "-r", "https://h/?${NO_SUCH_VAR}"),
     "uses ${NO_SUCH_VAR}, but the environment variable NO_SUCH_VAR is not"
     " set"),
])
def test_upload_errors(project, args, message):
    result = setup_py(project, *args)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout
    assert "Traceback" not in result.stdout
    assert "use twine to upload" not in result.stdout
