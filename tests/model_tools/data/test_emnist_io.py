"""NIST-format loaders on the shipped real files: headers, orientation, .mat parity, mapping, bad files."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from emnist_contract.labels import BYCLASS_LABELS
from model_tools.data.datasets import DEFAULT_DATA_DIR
from model_tools.data.emnist_io import (
    EmnistPart,
    load_idx_split,
    load_mat_split,
    read_idx,
    read_idx_images,
    read_idx_labels,
    read_split_mapping,
    write_idx,
    write_mat_split,
)

NIST = DEFAULT_DATA_DIR / "nist"
TEST_IMAGES = NIST / "emnist-mnist-test-images-idx3-ubyte.gz"
TEST_LABELS = NIST / "emnist-mnist-test-labels-idx1-ubyte.gz"
# sha256 of the first three test images as NIST's upright copy (emnist_mnist_split_test.npz) holds them.
UPRIGHT_SHA256 = {
    0: "57248b2ee7d90e70357c6299095af698ef4bcd3a78354e0db72af3dde5d2ac11",
    1: "3091df1973543cd52fc2d6ce5307601a0eea99788f89232e75b8112e1ea85969",
    2: "d799f56a696a0c5cff1e467a642bfb213458afeeaa7764c8211779571cfd93ce",
}


def test_idx_files_read_with_their_headers(mnist_test):
    images, labels = mnist_test
    assert images.shape == (9990, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (9990,) and labels.dtype == np.int64
    assert labels[:3].tolist() == [1, 8, 6]
    assert np.bincount(labels).tolist() == [999, 999, 999, 999, 998, 999, 999, 999, 999, 1000]


def test_known_images_read_upright(mnist_test):
    images, _ = mnist_test
    for index, digest in UPRIGHT_SHA256.items():
        assert hashlib.sha256(images[index].tobytes()).hexdigest() == digest
        assert hashlib.sha256(images[index].T.copy().tobytes()).hexdigest() != digest


def test_digit_shapes_are_upright(mnist_test):
    """A '7' has its bar at the top; a '1' is taller than wide. Transposed images fail both."""
    images, labels = mnist_test
    seven = images[labels == 7].mean(axis=0)
    assert seven[3:10].sum() > 1.5 * seven[18:25].sum()
    assert not seven.T[3:10].sum() > 1.5 * seven.T[18:25].sum()
    one = images[labels == 1].mean(axis=0) > 64
    rows, cols = np.flatnonzero(one.any(axis=1)), np.flatnonzero(one.any(axis=0))
    assert np.ptp(rows) > 1.5 * np.ptp(cols)


def test_plain_idx_equals_gzip(tmp_path, mnist_test):
    plain = tmp_path / "emnist-mnist-test-images-idx3-ubyte"
    plain.write_bytes(gzip.decompress(TEST_IMAGES.read_bytes()))
    np.testing.assert_array_equal(read_idx_images(plain), mnist_test[0])


def test_write_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    for gz in (True, False):
        write_idx(tmp_path / f"a{gz}", array, gz=gz)
        np.testing.assert_array_equal(read_idx(tmp_path / f"a{gz}"), array)


def test_load_idx_split_checks_labels_against_mapping():
    part = load_idx_split(NIST, "mnist", "test")
    assert len(part) == 9990 and part.mapping == {i: str(i) for i in range(10)}


def test_idx_split_with_mismatched_counts_fails(tmp_path, mnist_test):
    images, labels = mnist_test
    write_idx(tmp_path / "emnist-mnist-test-images-idx3-ubyte.gz", images[:10].transpose(0, 2, 1))
    write_idx(tmp_path / "emnist-mnist-test-labels-idx1-ubyte.gz", labels[:9].astype(np.uint8))
    (tmp_path / "emnist-mnist-mapping.txt").write_text((NIST / "emnist-mnist-mapping.txt").read_text())
    with pytest.raises(ValueError, match="10 images but .* 9 labels"):
        load_idx_split(tmp_path, "mnist", "test")


def test_labels_outside_the_mapping_fail(tmp_path, mnist_test):
    images, _ = mnist_test
    write_idx(tmp_path / "emnist-mnist-test-images-idx3-ubyte.gz", images[:3].transpose(0, 2, 1))
    write_idx(tmp_path / "emnist-mnist-test-labels-idx1-ubyte.gz", np.array([1, 2, 40], dtype=np.uint8))
    (tmp_path / "emnist-mnist-mapping.txt").write_text((NIST / "emnist-mnist-mapping.txt").read_text())
    with pytest.raises(ValueError, match=r"labels \[40\] are not in the split's mapping"):
        load_idx_split(tmp_path, "mnist", "test")


def test_missing_split_file_names_the_download_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="emnist-letters-train-images-idx3-ubyte.gz.*download"):
        load_idx_split(tmp_path, "letters", "train")


# ------------------------------------------------------------------------------ bad idx files


def test_truncated_gzip_is_a_clear_error(tmp_path):
    broken = tmp_path / "emnist-mnist-test-images-idx3-ubyte.gz"
    broken.write_bytes(TEST_IMAGES.read_bytes()[:100_000])
    with pytest.raises(ValueError, match=rf"{broken.name}: corrupt or truncated gzip"):
        read_idx_images(broken)


def test_truncated_payload_is_a_clear_error(tmp_path):
    data = gzip.decompress(TEST_IMAGES.read_bytes())
    broken = tmp_path / "images.gz"
    broken.write_bytes(gzip.compress(data[:-500], compresslevel=1))
    with pytest.raises(ValueError, match=r"images.gz: truncated: header says 9990x28x28"):
        read_idx_images(broken)
    short = tmp_path / "short"
    short.write_bytes(data[:10])
    with pytest.raises(ValueError, match="truncated idx header"):
        read_idx(short)


def test_trailing_bytes_are_an_error(tmp_path):
    extra = tmp_path / "labels"
    extra.write_bytes(gzip.decompress(TEST_LABELS.read_bytes()) + b"\0\0")
    with pytest.raises(ValueError, match="trailing bytes"):
        read_idx_labels(extra)


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + bytes(64), b"label,pixel\n1,0\n", b"\1"])
def test_foreign_files_are_rejected(tmp_path, content):
    foreign = tmp_path / "emnist-mnist-test-images-idx3-ubyte"
    foreign.write_bytes(content)
    with pytest.raises(ValueError, match=foreign.name):
        read_idx_images(foreign)


def test_labels_file_is_not_accepted_as_images():
    with pytest.raises(ValueError, match="expected uint8 images N x 28 x 28"):
        read_idx_images(TEST_LABELS)
    with pytest.raises(ValueError, match="expected uint8 labels"):
        read_idx_labels(TEST_IMAGES)


# --------------------------------------------------------------------------------------- .mat


def _nist_struct(raw_rows: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    return {"images": raw_rows, "labels": labels.reshape(-1, 1).astype(np.uint8),
            "writers": np.zeros((len(labels), 1), dtype=np.uint16)}


def test_mat_in_nist_structure_gives_the_same_arrays_as_idx(tmp_path, mnist_test):
    """A .mat whose rows hold the idx records' bytes (NIST's layout) reads as the same upright images."""
    images, labels = mnist_test
    raw = np.frombuffer(gzip.decompress(TEST_IMAGES.read_bytes()), np.uint8, offset=16).reshape(-1, 784)
    mapping = np.array([[d, 48 + d] for d in range(10)], dtype=np.uint8)
    path = tmp_path / "emnist-mnist.mat"
    savemat(path, {"dataset": {"train": _nist_struct(raw[:600], labels[:600]),
                               "test": _nist_struct(raw[600:900], labels[600:900]), "mapping": mapping}})
    train = load_mat_split(path, "train")
    test = load_mat_split(path, "test")
    np.testing.assert_array_equal(train.images, images[:600])
    np.testing.assert_array_equal(test.images, images[600:900])
    np.testing.assert_array_equal(train.labels, labels[:600])
    assert train.labels.dtype == np.int64 and train.images.dtype == np.uint8
    assert train.mapping == read_split_mapping(NIST / "emnist-mnist-mapping.txt")


def test_write_mat_split_round_trip(tmp_path, mnist_test):
    images, labels = mnist_test
    mapping = {i: str(i) for i in range(10)}
    path = tmp_path / "emnist-mnist.mat"
    write_mat_split(path, EmnistPart(images[:50], labels[:50], mapping),
                    EmnistPart(images[50:80], labels[50:80], mapping))
    back = load_mat_split(path, "test")
    np.testing.assert_array_equal(back.images, images[50:80])
    np.testing.assert_array_equal(back.labels, labels[50:80])


def test_mat_errors_are_clear(tmp_path, mnist_test):
    images, labels = mnist_test
    foreign = tmp_path / "emnist-mnist.mat"
    foreign.write_bytes(b"MATLAB is not here" * 20)
    with pytest.raises(ValueError, match="emnist-mnist.mat: not a readable Matlab file"):
        load_mat_split(foreign, "train")

    other = tmp_path / "other.mat"
    savemat(other, {"x": np.zeros(3)})
    with pytest.raises(ValueError, match="no 'dataset' struct"):
        load_mat_split(other, "train")

    good = tmp_path / "good.mat"
    mapping = {i: str(i) for i in range(10)}
    write_mat_split(good, EmnistPart(images[:400], labels[:400], mapping),
                    EmnistPart(images[:10], labels[:10], mapping))
    truncated = tmp_path / "truncated.mat"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.mat"):
        load_mat_split(truncated, "train")

    wrong_split = tmp_path / "emnist-letters.mat"
    wrong_split.write_bytes(good.read_bytes())
    with pytest.raises(ValueError, match="mapping has 10 classes, split 'letters' has 26"):
        load_mat_split(wrong_split, "train")


# ------------------------------------------------------------------------------------ mapping


def test_byclass_mapping_is_the_contracts_label_order():
    """NIST's own byclass mapping file gives the order of the 62 outputs: digits, uppercase, lowercase."""
    mapping = read_split_mapping(NIST / "emnist-byclass-mapping.txt", "byclass")
    assert tuple(mapping[i] for i in range(62)) == BYCLASS_LABELS
    assert "".join(BYCLASS_LABELS[:10]) == "0123456789"
    assert BYCLASS_LABELS[10] == "A" and BYCLASS_LABELS[35] == "Z"
    assert BYCLASS_LABELS[36] == "a" and BYCLASS_LABELS[61] == "z"


def test_other_mappings_parse():
    letters = read_split_mapping(NIST / "emnist-letters-mapping.txt", "letters")
    assert letters[1] == "Aa" and letters[26] == "Zz" and len(letters) == 26
    balanced = read_split_mapping(NIST / "emnist-balanced-mapping.txt", "balanced")
    assert len(balanced) == 47 and "c" not in balanced.values() and "e" in balanced.values()
    with pytest.raises(ValueError, match="do not match split 'byclass'"):
        read_split_mapping(NIST / "emnist-balanced-mapping.txt", "byclass")


def test_malformed_mapping_lines_are_reported(tmp_path: Path):
    bad = tmp_path / "emnist-mnist-mapping.txt"
    bad.write_text("0 48\n1 forty-nine\n")
    with pytest.raises(ValueError, match=r"emnist-mnist-mapping.txt:2: expected"):
        read_split_mapping(bad)
    bad.write_bytes(b"\xff\xfe binary")
    with pytest.raises(ValueError, match="not ASCII"):
        read_split_mapping(bad)
