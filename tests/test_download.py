"""``download`` against a local archive served over http on 127.0.0.1 and file://, and offline."""

from __future__ import annotations

import argparse
import hashlib
import threading
import time
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from model_tools.data import download
from model_tools.data.datasets import DEFAULT_DATA_DIR
from model_tools.data.emnist_io import load_idx_split, read_idx_images, read_idx_labels, write_idx

NIST = DEFAULT_DATA_DIR / "nist"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: ANN002 - keep test output clean
        pass


@pytest.fixture(scope="module")
def archive_dir(tmp_path_factory) -> Path:
    """A zip laid out like NIST's gzip.zip with the real emnist-mnist files (train = a slice of test)."""
    folder = tmp_path_factory.mktemp("server")
    images = read_idx_images(NIST / "emnist-mnist-test-images-idx3-ubyte.gz")
    labels = read_idx_labels(NIST / "emnist-mnist-test-labels-idx1-ubyte.gz")
    write_idx(folder / "train-images.gz", images[:1000].transpose(0, 2, 1))
    write_idx(folder / "train-labels.gz", labels[:1000].astype(np.uint8))
    with zipfile.ZipFile(folder / "gzip.zip", "w") as archive:
        archive.write(folder / "train-images.gz", "gzip/emnist-mnist-train-images-idx3-ubyte.gz")
        archive.write(folder / "train-labels.gz", "gzip/emnist-mnist-train-labels-idx1-ubyte.gz")
        for name in ("emnist-mnist-test-images-idx3-ubyte.gz", "emnist-mnist-test-labels-idx1-ubyte.gz",
                     "emnist-mnist-mapping.txt"):
            archive.write(NIST / name, f"gzip/{name}")
        archive.write(NIST / "emnist-byclass-mapping.txt", "gzip/emnist-byclass-mapping.txt")
    (folder / "not-a-zip.zip").write_bytes(b"<html>maintenance</html>" * 100)
    return folder


@pytest.fixture(scope="module")
def server(archive_dir):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(archive_dir)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def run_download(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    download.register(parser.add_subparsers())
    args = parser.parse_args(["download", *argv])
    return args.func(args)


def test_http_download_extracts_only_the_split(server, archive_dir, tmp_path):
    out = tmp_path / "emnist"
    code = run_download("--split", "mnist", "--out", str(out), "--url", f"{server}/gzip.zip",
                        "--md5", md5_of(archive_dir / "gzip.zip"))
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        Path(m).name for m in download.split_members("mnist"))  # no byclass mapping, no archive left
    train = load_idx_split(out, "mnist", "train")
    test = load_idx_split(out, "mnist", "test")
    assert len(train) == 1000 and len(test) == 9990
    np.testing.assert_array_equal(train.images, test.images[:1000])


def test_file_url_and_kept_archive(archive_dir, tmp_path):
    out = tmp_path / "emnist"
    code = run_download("--split", "mnist", "--out", str(out), "--url", (archive_dir / "gzip.zip").as_uri(),
                        "--md5", "none", "--keep-archive")
    assert code == 0 and (out / "gzip.zip").read_bytes() == (archive_dir / "gzip.zip").read_bytes()


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    out = tmp_path / "emnist"
    assert run_download("--split", "mnist", "--out", str(out), "--url", f"{server}/gzip.zip") == 3
    assert not out.exists()  # NIST's MD5 is the default, this archive is not NIST's


@pytest.mark.parametrize("name", ["not-a-zip.zip", "missing.zip"])
def test_bad_or_missing_archive_leaves_nothing(server, tmp_path, name):
    out = tmp_path / "emnist"
    code = run_download("--split", "mnist", "--out", str(out), "--url", f"{server}/{name}", "--md5", "none")
    assert code == 3
    assert not out.exists()


def test_archive_without_the_split_is_rejected(server, tmp_path, caplog):
    out = tmp_path / "emnist"
    assert run_download("--split", "letters", "--out", str(out), "--url", f"{server}/gzip.zip",
                        "--md5", "none") == 3
    assert "missing gzip/emnist-letters-train-images-idx3-ubyte.gz" in caplog.text
    assert not out.exists()


def test_existing_folder_keeps_no_partial_files(server, tmp_path):
    out = tmp_path / "emnist"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert run_download("--split", "mnist", "--out", str(out), "--url", f"{server}/not-a-zip.zip",
                        "--md5", "none") == 3
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_offline_fails_fast_with_a_clear_message(tmp_path, caplog):
    """Nothing listens on the port: like being offline, it must fail at once and write nothing."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "emnist"
    started = time.perf_counter()
    code = run_download("--split", "mnist", "--out", str(out), "--url", f"http://127.0.0.1:{port}/gzip.zip",
                        "--connect-timeout", "2")
    assert code == 3 and time.perf_counter() - started < 10
    assert "cannot reach 127.0.0.1" in caplog.text and "Nothing was written" in caplog.text
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
