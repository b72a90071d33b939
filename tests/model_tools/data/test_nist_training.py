"""NIST's full files as training data: the same images as the readers, one uint8 copy, ByClass labels."""

from __future__ import annotations

import gzip
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from emnist_contract.labels import BYCLASS_LABELS
from model_tools.data import emnist_io
from model_tools.data.datasets import load_split
from model_tools.data.nist_training import holdout_rows, load_nist_training, stream_idx_images

MAPPING = "\n".join(f"{i} {ord(c)}" for i, c in enumerate(BYCLASS_LABELS)) + "\n"


def _nist_folder(folder: Path, images: np.ndarray, labels: np.ndarray, gz: bool = True) -> Path:
    """A folder laid out as `download --split byclass` writes it (images stored transposed)."""
    folder.mkdir(parents=True, exist_ok=True)
    emnist_io.write_idx(folder / emnist_io.idx_file_name("byclass", "train", "images", gz=gz),
                        images.transpose(0, 2, 1), gz=gz)
    emnist_io.write_idx(folder / emnist_io.idx_file_name("byclass", "train", "labels", gz=gz),
                        labels.astype(np.uint8), gz=gz)
    (folder / emnist_io.mapping_file_name("byclass")).write_text(MAPPING)
    return folder


@pytest.fixture(scope="module")
def shipped_train() -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_split("train")
    return images[:3000], labels[:3000]


@pytest.mark.parametrize("gz", [True, False])
def test_a_download_folder_reads_upright_with_byclass_labels(tmp_path, shipped_train, gz) -> None:
    images, labels = shipped_train
    loaded = load_nist_training(_nist_folder(tmp_path / "emnist", images, labels, gz=gz))
    np.testing.assert_array_equal(loaded.images, images)
    np.testing.assert_array_equal(loaded.labels, labels)
    # One buffer, read as stored; the upright images are a view of it, not a second copy.
    assert not loaded.images.flags.c_contiguous and loaded.images.base is not None
    # The images file alone (its labels and mapping beside it) reads the same.
    alone = load_nist_training(next((tmp_path / "emnist").glob("*images*")))
    np.testing.assert_array_equal(alone.images, images)


def test_the_images_are_held_once_in_memory(tmp_path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (20_000, 28, 28), dtype=np.uint8)
    path = tmp_path / "emnist-byclass-train-images-idx3-ubyte.gz"
    emnist_io.write_idx(path, images, gz=True)
    tracemalloc.start()
    loaded = stream_idx_images(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1.1 * images.nbytes  # the existing reader holds the gzip bytes, the data and a copy
    np.testing.assert_array_equal(loaded, images.transpose(0, 2, 1))


def test_a_mat_file_reads_as_an_upright_view(tmp_path, shipped_train) -> None:
    images, labels = shipped_train
    part = emnist_io.EmnistPart(images, labels, dict(enumerate(BYCLASS_LABELS)))
    path = tmp_path / "emnist-byclass.mat"
    emnist_io.write_mat_split(path, part, part)
    loaded = load_nist_training(path)
    np.testing.assert_array_equal(loaded.images, images)
    np.testing.assert_array_equal(loaded.labels, labels)
    assert not loaded.images.flags.c_contiguous


def test_broken_files_give_clear_errors(tmp_path, shipped_train) -> None:
    images, labels = shipped_train
    folder = _nist_folder(tmp_path / "emnist", images[:50], labels[:50])
    images_file = next(folder.glob("*images*"))
    data = gzip.decompress(images_file.read_bytes())
    images_file.write_bytes(gzip.compress(data[:-100]))
    with pytest.raises(ValueError, match="truncated"):
        load_nist_training(folder)
    images_file.write_bytes(gzip.compress(data + b"x"))
    with pytest.raises(ValueError, match="trailing bytes"):
        load_nist_training(folder)
    images_file.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + data[4:]))
    with pytest.raises(ValueError, match="not an idx3"):
        load_nist_training(folder)
    shutil.rmtree(folder)
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match="download --split byclass"):
        load_nist_training(folder)
    (tmp_path / "notes.gz").write_bytes(b"")
    with pytest.raises(ValueError, match="not a NIST images file name"):
        load_nist_training(tmp_path / "notes.gz")


def test_holdout_rows_are_seeded_disjoint_and_complete() -> None:
    labels = np.arange(1000) % 62
    train, validation = holdout_rows(labels, 100, seed=5)
    assert len(validation) == 100 and len(train) == 900
    assert np.union1d(train, validation).tolist() == list(range(1000))
    again = holdout_rows(labels, 100, seed=5)[1]
    np.testing.assert_array_equal(validation, again)
    assert not np.array_equal(holdout_rows(labels, 100, seed=6)[1], validation)
    with pytest.raises(ValueError, match="validation-images"):
        holdout_rows(labels, 1000, seed=0)
