"""Labelled images from every source ``evaluate`` reads, in ByClass labels, and clear errors."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
from scipy.io import savemat

from emnist_contract.labels import char_to_label
from model_tools.data import emnist_io
from model_tools.data.datasets import DEFAULT_DATA_DIR
from model_tools.data.image_sources import load_images

NIST = DEFAULT_DATA_DIR / "nist"


def test_shipped_split_by_name(shipped_splits):
    data = load_images("validation")
    images, labels = shipped_splits["validation"]
    assert np.array_equal(data.images, images) and np.array_equal(data.labels, labels)
    assert data.description == "shipped validation split"


def test_nist_idx_file_reads_like_the_test_split(shipped_splits):
    test_images, test_labels = shipped_splits["test"]
    data = load_images(data=NIST / "emnist-mnist-test-images-idx3-ubyte.gz")
    assert np.array_equal(data.images, test_images) and np.array_equal(data.labels, test_labels)


def test_mat_file_labels_are_translated_to_byclass(tmp_path, shipped_splits):
    """A .mat with its own label numbers (1 = 'A', 2 = 'B') comes out in ByClass numbers via its mapping."""
    images = shipped_splits["validation"][0]
    part = emnist_io.EmnistPart(images[:4], np.array([1, 2, 2, 1]), {1: "A", 2: "B"})
    path = tmp_path / "emnist-custom.mat"
    emnist_io.write_mat_split(path, part, part)
    data = load_images(data=path, part="test")
    assert data.labels.tolist() == [char_to_label(c) for c in "ABBA"]
    assert np.array_equal(data.images, images[:4])
    # NIST's 'letters' maps each label to both cases: the image counts as the uppercase class.
    rows = {"images": emnist_io.images_to_mat_rows(images[:2]), "labels": np.array([[1.0], [2.0]])}
    mapping = np.array([[1, ord("A"), ord("a")], [2, ord("B"), ord("b")]], dtype=np.float64)
    savemat(tmp_path / "letters.mat", {"dataset": {"train": rows, "test": rows, "mapping": mapping}})
    assert load_images(data=tmp_path / "letters.mat").labels.tolist() == [10, 11]


def test_npz_with_byclass_labels(tmp_path, shipped_splits):
    images, labels = shipped_splits["validation"]
    np.savez(tmp_path / "mine.npz", images=images[:6], labels=labels[:6])
    data = load_images(data=tmp_path / "mine.npz")
    assert np.array_equal(data.images, images[:6]) and np.array_equal(data.labels, labels[:6])
    np.savez(tmp_path / "bad_labels.npz", images=images[:2], labels=np.array([0, 62]))
    with pytest.raises(ValueError, match="ByClass indices 0-61"):
        load_images(data=tmp_path / "bad_labels.npz")


def test_foreign_data_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_images(data=tmp_path / "none.npz")
    npz = tmp_path / "bad.npz"
    np.savez(npz, x=np.zeros(3))
    with pytest.raises(ValueError, match="'images' and 'labels'"):
        load_images(data=npz)
    other = tmp_path / "pictures.bin"
    other.write_bytes(b"123")
    with pytest.raises(ValueError, match="unknown data file"):
        load_images(data=other)
    for name in ("emnist-mnist-test-labels-idx1-ubyte.gz", "emnist-mnist-mapping.txt"):
        shutil.copy(NIST / name, tmp_path / name)
    truncated = tmp_path / "emnist-mnist-test-images-idx3-ubyte"
    whole = gzip.decompress((NIST / "emnist-mnist-test-images-idx3-ubyte.gz").read_bytes())
    truncated.write_bytes(whole[:5000])
    with pytest.raises(ValueError, match="truncated"):
        load_images(data=truncated)
