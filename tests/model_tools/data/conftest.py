"""Fixtures of the data stage's tests: NIST's shipped files, the splits, a local NIST-like archive."""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from model_tools.data.datasets import DEFAULT_DATA_DIR, STORED_SPLITS, load_split
from model_tools.data.emnist_io import read_idx_images, read_idx_labels, write_idx
from model_tools.data.explore import explore

NIST = DEFAULT_DATA_DIR / "nist"


@pytest.fixture(scope="session")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """NIST's emnist-mnist test images and labels, read from the shipped idx files."""
    return (read_idx_images(NIST / "emnist-mnist-test-images-idx3-ubyte.gz"),
            read_idx_labels(NIST / "emnist-mnist-test-labels-idx1-ubyte.gz"))


@pytest.fixture(scope="session")
def shipped_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every shipped split by name."""
    return {name: load_split(name) for name in STORED_SPLITS}


@pytest.fixture(scope="session")
def archive_dir(tmp_path_factory: pytest.TempPathFactory, mnist_test) -> Path:
    """A zip laid out like NIST's gzip.zip with the real emnist-mnist files (train = a slice of test)."""
    folder = tmp_path_factory.mktemp("server")
    images, labels = mnist_test
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


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture(scope="session")
def archive_server(archive_dir: Path) -> Iterator[str]:
    """Base URL of an http server on 127.0.0.1 serving ``archive_dir``."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(archive_dir)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def explore_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """The exploration report written once (2 sample images per class): its folder and its figures."""
    out = tmp_path_factory.mktemp("explore")
    return out, explore(DEFAULT_DATA_DIR, out, per_class=2, seed=0)
