"""The shipped splits: shapes, disjointness, stratification, and that data/README.md tells the truth."""

from __future__ import annotations

import hashlib
import re
import shutil

import numpy as np
import pytest

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from model_tools.data.build_data import VALIDATION_FRACTION, build, deduplicate_pool, stratified_split
from model_tools.data.datasets import DEFAULT_DATA_DIR, load_split, to_model_input

EMPTY_CLASSES = set("JQXYZjqxyz")


@pytest.fixture(scope="module")
def splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {name: load_split(name) for name in ("train", "validation", "test", "mnist")}


def test_split_shapes_and_types(splits):
    sizes = {name: len(labels) for name, (_, labels) in splits.items()}
    assert sizes == {"train": 23_326, "validation": 4_119, "test": 9_990, "mnist": 5_000}
    for images, labels in splits.values():
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
        assert labels.dtype == np.int64 and labels.min() >= 0 and labels.max() < NUM_CLASSES


def test_no_image_in_two_splits_or_twice_in_one(splits):
    seen: dict[bytes, str] = {}
    for name, (images, _) in splits.items():
        for image in images:
            key = image.tobytes()
            assert key not in seen, f"an image of {name} is also in {seen[key]}"
            seen[key] = name


def test_validation_is_a_stratified_fifteen_percent(splits):
    train = np.bincount(splits["train"][1], minlength=NUM_CLASSES)
    validation = np.bincount(splits["validation"][1], minlength=NUM_CLASSES)
    pool = train + validation
    expected = np.round(VALIDATION_FRACTION * pool).astype(int)
    np.testing.assert_array_equal(validation, expected)
    assert {BYCLASS_LABELS[i] for i in np.flatnonzero(pool == 0)} == EMPTY_CLASSES
    assert splits["test"][1].max() == 9  # the kept-aside test split is NIST's official digits


def test_images_are_real_emnist_characters(splits):
    """Ink high on a black background, centred like EMNIST (not blank, not inverted)."""
    images = splits["train"][0]
    assert np.median(images[:, 0, :]) == 0 and np.median(images[:, :, 0]) == 0
    assert 0.08 < (images > 128).mean() < 0.3
    assert images[:, 10:18, 10:18].mean() > 3 * images[:, :3, :].mean()


def test_unknown_split_and_missing_files_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        load_split("valid")
    with pytest.raises(FileNotFoundError, match="build-data"):
        load_split("train", tmp_path)


def test_to_model_input(splits):
    flat = to_model_input(splits["validation"][0][:5])
    assert flat.shape == (5, 784) and flat.dtype == np.float32 and flat.min() >= 0.0 and flat.max() <= 1.0
    np.testing.assert_array_equal(np.rint(flat[0].reshape(28, 28) * 255), splits["validation"][0][0])


def test_data_readme_hashes_and_counts_match_the_files(splits):
    readme = (DEFAULT_DATA_DIR / "README.md").read_text()
    hashes = dict(re.findall(r"^\| (\S+) \| [\d,]+ \| `([0-9a-f]{64})` \|$", readme, flags=re.M))
    assert len(hashes) == 12
    for name, digest in hashes.items():
        assert hashlib.sha256((DEFAULT_DATA_DIR / name).read_bytes()).hexdigest() == digest, name
    rows = re.findall(r"^\| (\d+) \| (\S) \| \w+ \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", readme, flags=re.M)
    assert len(rows) == NUM_CLASSES
    for split, column in (("train", 2), ("validation", 3), ("test", 4), ("mnist", 5)):
        counts = np.bincount(splits[split][1], minlength=NUM_CLASSES)
        assert [int(row[column]) for row in rows] == counts.tolist(), split


def test_stratified_split_is_seeded_and_proportional():
    labels = np.repeat(np.arange(5), [100, 40, 7, 1, 0][:5])
    first = stratified_split(labels, 0.15, seed=3)
    again = stratified_split(labels, 0.15, seed=3)
    other = stratified_split(labels, 0.15, seed=4)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    assert np.bincount(labels[first[1]], minlength=5).tolist() == [15, 6, 1, 0, 0]
    assert np.intersect1d(*first).size == 0 and len(first[0]) + len(first[1]) == len(labels)


def test_deduplicate_pool_drops_test_images_and_repeats():
    a = np.zeros((3, 28, 28), np.uint8)
    a[1, 0, 0], a[2, 0, 1] = 1, 2
    b = a[[2, 0]].copy()
    pool, dropped = deduplicate_pool([(a, np.array([5, 6, 7])), (b, np.array([7, 5]))],
                                     excluded={a[1].tobytes()})
    assert dropped == {"in_test": 1, "repeated": 2}
    assert pool.labels.tolist() == [5, 7] and pool.source.tolist() == [0, 0]
    with pytest.raises(ValueError, match="labelled '7' and '8'"):
        deduplicate_pool([(a[2:], np.array([7])), (a[2:], np.array([8]))], excluded=set())


SHARED = DEFAULT_DATA_DIR.parent.parent / "shared"


@pytest.mark.skipif(not (SHARED / "data" / "emnist").is_dir(), reason="../shared is not available")
def test_build_data_reproduces_the_shipped_files_byte_for_byte(tmp_path):
    """Provenance is executable: rebuilding from ../shared gives exactly the committed data/."""
    summary = build(SHARED, tmp_path / "data")
    shipped = sorted(p.relative_to(DEFAULT_DATA_DIR) for p in DEFAULT_DATA_DIR.rglob("*") if p.is_file())
    rebuilt = sorted(p.relative_to(tmp_path / "data") for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert rebuilt == shipped
    for name in shipped:
        assert (tmp_path / "data" / name).read_bytes() == (DEFAULT_DATA_DIR / name).read_bytes(), name
    assert summary["total_bytes"] < 15 * 1024 * 1024
    shutil.rmtree(tmp_path / "data")
