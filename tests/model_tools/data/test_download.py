"""``download`` against a local archive served over http on 127.0.0.1 and file://, and offline."""

from __future__ import annotations

import argparse
import hashlib
import socket
from pathlib import Path

import pytest

from model_tools.data import download
from model_tools.data.emnist_io import load_idx_split


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def run_download(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    download.register(parser.add_subparsers())
    args = parser.parse_args(["download", *argv])
    return args.func(args)


def test_http_download_extracts_only_the_split(archive_server, archive_dir, tmp_path):
    out = tmp_path / "emnist"
    code = run_download("--split", "mnist", "--out", str(out), "--url", f"{archive_server}/gzip.zip",
                        "--md5", md5_of(archive_dir / "gzip.zip"))
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        Path(m).name for m in download.split_members("mnist"))  # no byclass mapping, no archive left
    train = load_idx_split(out, "mnist", "train")
    test = load_idx_split(out, "mnist", "test")
    assert len(train) == 1000 and len(test) == 9990
    assert (train.images == test.images[:1000]).all()


def test_file_url_and_kept_archive(archive_dir, tmp_path):
    out = tmp_path / "emnist"
    code = run_download("--split", "mnist", "--out", str(out), "--url", (archive_dir / "gzip.zip").as_uri(),
                        "--md5", "none", "--keep-archive")
    assert code == 0 and (out / "gzip.zip").read_bytes() == (archive_dir / "gzip.zip").read_bytes()


def test_wrong_checksum_leaves_nothing(archive_server, tmp_path):
    out = tmp_path / "emnist"
    assert run_download("--split", "mnist", "--out", str(out), "--url", f"{archive_server}/gzip.zip") == 3
    assert not out.exists()  # NIST's MD5 is the default, this archive is not NIST's


@pytest.mark.parametrize("name", ["not-a-zip.zip", "missing.zip"])
def test_bad_or_missing_archive_leaves_nothing(archive_server, tmp_path, name):
    out = tmp_path / "emnist"
    code = run_download("--split", "mnist", "--out", str(out), "--url", f"{archive_server}/{name}",
                        "--md5", "none")
    assert code == 3
    assert not out.exists()


def test_archive_without_the_split_is_rejected(archive_server, tmp_path, caplog):
    out = tmp_path / "emnist"
    assert run_download("--split", "letters", "--out", str(out), "--url", f"{archive_server}/gzip.zip",
                        "--md5", "none") == 3
    assert "missing gzip/emnist-letters-train-images-idx3-ubyte.gz" in caplog.text
    assert not out.exists()


def test_existing_folder_keeps_no_partial_files(archive_server, tmp_path):
    out = tmp_path / "emnist"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert run_download("--split", "mnist", "--out", str(out), "--url", f"{archive_server}/not-a-zip.zip",
                        "--md5", "none") == 3
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_offline_fails_with_a_clear_message_and_writes_nothing(tmp_path, caplog):
    """Nothing listens on the port: like being offline, the connection is refused and nothing is written."""
    out = tmp_path / "emnist"
    code = run_download("--split", "mnist", "--out", str(out), "--url",
                        f"http://127.0.0.1:{_free_port()}/gzip.zip", "--connect-timeout", "2")
    assert code == 3
    assert "cannot reach 127.0.0.1" in caplog.text and "Nothing was written" in caplog.text
    assert not out.exists()


def test_connect_timeout_reaches_the_request_and_a_timeout_writes_nothing(tmp_path, caplog, monkeypatch):
    """A host that never answers (a black-holed route): the request is bounded by --connect-timeout."""
    import requests

    seen = {}

    def never_answers(url, **kwargs):
        seen.update(kwargs, url=url)
        raise requests.ConnectTimeout("connect timed out")

    monkeypatch.setattr(requests, "get", never_answers)
    out = tmp_path / "emnist"
    assert run_download("--split", "mnist", "--out", str(out), "--connect-timeout", "1.5") == 3
    assert seen["url"] == download.NIST_GZIP_URL and seen["timeout"][0] == 1.5 and seen["stream"] is True
    assert "cannot reach biometrics.nist.gov" in caplog.text
    assert not out.exists()

    def slow_answer(url, **kwargs):
        raise requests.ReadTimeout("read timed out")

    monkeypatch.setattr(requests, "get", slow_answer)
    assert run_download("--split", "mnist", "--out", str(out), "--connect-timeout", "1.5") == 3
    assert "did not answer within 1.5 s" in caplog.text
    assert not out.exists()


def test_unsupported_scheme_is_refused(tmp_path):
    with pytest.raises(download.DownloadError, match="unsupported URL scheme 'ftp'"):
        download.fetch("ftp://example.org/gzip.zip", tmp_path / "gzip.zip", md5=None)
    assert not any(tmp_path.iterdir())


def test_missing_local_archive_is_an_error_not_a_download(tmp_path, caplog):
    out = tmp_path / "emnist"
    assert run_download("--split", "mnist", "--out", str(out), "--archive", str(tmp_path / "none.zip")) == 3
    assert "no such archive" in caplog.text and not out.exists()


def test_local_archive_is_extracted_and_kept(archive_dir, tmp_path):
    out = tmp_path / "emnist"
    archive = str(archive_dir / "gzip.zip")
    assert run_download("--split", "mnist", "--out", str(out), "--archive", archive) == 0
    assert (archive_dir / "gzip.zip").exists() and len(load_idx_split(out, "mnist", "test")) == 9990
