"""The shipped splits: shapes, disjointness, stratification, and that data/README.md tells the truth."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from model_tools.data.datasets import (
    DEFAULT_DATA_DIR,
    load_split,
    load_synthetic,
    to_model_input,
    validation_inputs,
)

EMPTY_CLASSES = set("JQXYZjqxyz")


def test_split_shapes_and_types(shipped_splits):
    sizes = {name: len(labels) for name, (_, labels) in shipped_splits.items()}
    assert sizes == {"train": 23_326, "validation": 4_119, "test": 9_990, "mnist": 5_000, "synthetic": 1_860}
    for images, labels in shipped_splits.values():
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
        assert labels.dtype == np.int64 and labels.min() >= 0 and labels.max() < NUM_CLASSES


def test_no_image_in_two_splits_or_twice_in_one(shipped_splits):
    seen: dict[bytes, str] = {}
    for name, (images, _) in shipped_splits.items():
        for image in images:
            key = image.tobytes()
            assert key not in seen, f"an image of {name} is also in {seen[key]}"
            seen[key] = name


def test_validation_is_a_stratified_fifteen_percent(shipped_splits):
    train = np.bincount(shipped_splits["train"][1], minlength=NUM_CLASSES)
    validation = np.bincount(shipped_splits["validation"][1], minlength=NUM_CLASSES)
    pool = train + validation
    np.testing.assert_array_equal(validation, np.round(0.15 * pool).astype(int))
    assert {BYCLASS_LABELS[i] for i in np.flatnonzero(pool == 0)} == EMPTY_CLASSES
    assert shipped_splits["test"][1].max() == 9  # the kept-aside test split is NIST's official digits


def test_images_are_real_emnist_characters(shipped_splits):
    """Ink high on a black background, centred like EMNIST (not blank, not inverted)."""
    images = shipped_splits["train"][0]
    assert np.median(images[:, 0, :]) == 0 and np.median(images[:, :, 0]) == 0
    assert 0.08 < (images > 128).mean() < 0.3
    assert images[:, 10:18, 10:18].mean() > 3 * images[:, :3, :].mean()


def test_unknown_split_and_missing_files_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        load_split("valid")
    with pytest.raises(FileNotFoundError, match="build-data"):
        load_split("train", tmp_path)


def test_model_input_is_pixels_over_255_row_by_row(shipped_splits):
    images = shipped_splits["validation"][0][:5]
    flat = to_model_input(images)
    assert flat.shape == (5, 784) and flat.dtype == np.float32
    expected = np.array([[pixel / 255 for row in image for pixel in row] for image in images.tolist()])
    np.testing.assert_allclose(flat, expected, rtol=1e-7, atol=0)  # float32 of the exact quotient
    assert flat.min() >= 0.0 and flat.max() <= 1.0


def test_validation_inputs_are_the_validation_split_as_model_input(shipped_splits):
    images, labels = shipped_splits["validation"]
    inputs, input_labels = validation_inputs(limit=7)
    np.testing.assert_array_equal(inputs, to_model_input(images[:7]))
    np.testing.assert_array_equal(input_labels, labels[:7])
    assert len(validation_inputs()[1]) == len(labels)


def test_data_readme_hashes_and_counts_match_the_files(shipped_splits):
    readme = (DEFAULT_DATA_DIR / "README.md").read_text()
    hashes = dict(re.findall(r"^\| (\S+) \| [\d,]+ \| `([0-9a-f]{64})` \|$", readme, flags=re.M))
    assert len(hashes) == 13
    for name, digest in hashes.items():
        assert hashlib.sha256((DEFAULT_DATA_DIR / name).read_bytes()).hexdigest() == digest, name
    rows = re.findall(r"^\| (\d+) \| (\S) \| \w+ \|" + r" (\d+) \|" * 6 + "$", readme, flags=re.M)
    assert len(rows) == NUM_CLASSES
    synthetic_train = load_synthetic("train")[1]
    for split, column, labels in (("train", 2, None), ("validation", 3, None), ("test", 4, None),
                                  ("mnist", 5, None), ("synthetic train", 6, synthetic_train),
                                  ("synthetic validation", 7, shipped_splits["synthetic"][1])):
        labels = shipped_splits[split][1] if labels is None else labels
        counts = np.bincount(labels, minlength=NUM_CLASSES)
        assert [int(row[column]) for row in rows] == counts.tolist(), split


def test_digits_upper_is_the_official_digits_and_held_out_uppercase(shipped_splits):
    images, labels = load_split("digits-upper")
    test_images, test_labels = shipped_splits["test"]
    np.testing.assert_array_equal(images[: len(test_labels)], test_images)
    rest = labels[len(test_labels):]
    assert set(rest.tolist()) == set(range(10, 36))  # all 26 uppercase letters, nothing else
    real_upper = np.isin(shipped_splits["validation"][1], range(10, 36)).sum()
    drawn = images[len(test_labels) + real_upper:]
    assert {BYCLASS_LABELS[c] for c in labels[len(test_labels) + real_upper:]} == set("JQXYZ")
    held_out = {image.tobytes() for image in shipped_splits["synthetic"][0]}
    assert all(image.tobytes() in held_out for image in drawn)
