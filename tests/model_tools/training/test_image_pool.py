"""The training pool: batches over several uint8 arrays without copies, and per-image loss weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emnist_contract.labels import NUM_CLASSES
from model_tools.training.image_pool import (
    ImagePool,
    ImageSource,
    sample_weights,
    training_rows,
    training_subset,
)


def _images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)


def test_batches_follow_the_indices_across_sources_and_rows() -> None:
    real, synthetic = _images(10, 0), _images(6, 1)
    rows = np.array([9, 2, 5, 0])  # only these real rows belong to the pool, in this order
    pool = ImagePool([ImageSource(real, np.arange(4), rows=rows),
                      ImageSource(synthetic, np.arange(6) + 10, synthetic=True)])
    assert len(pool) == 10
    indices = torch.tensor([5, 0, 9, 3, 4])  # pool order: real rows 9, 2, 5, 0, then synthetic 0-5
    expected = np.stack([synthetic[1], real[9], synthetic[5], real[0], synthetic[0]])
    got = pool.batch(indices).numpy()
    assert got.dtype == np.float32 and got.shape == (5, 784)
    np.testing.assert_array_equal(got, expected.reshape(5, 784).astype(np.float32) / np.float32(255))
    assert pool.labels[indices].tolist() == [11, 0, 15, 3, 10]
    assert pool.synthetic[indices].tolist() == [True, False, True, False, True]
    assert pool.class_counts(True)[10:16].tolist() == [1] * 6
    assert pool.class_counts(False)[:4].tolist() == [1] * 4


def test_a_view_is_read_without_copying_it() -> None:
    stored = _images(8, 2)  # as NIST stores them: transposed
    upright = stored.transpose(0, 2, 1)
    pool = ImagePool([ImageSource(upright, np.zeros(8, dtype=np.int64))])
    assert pool._images[0].data_ptr() == stored.ctypes.data  # the tensor shares the caller's buffer
    np.testing.assert_array_equal(pool.batch(torch.tensor([3])).numpy().reshape(28, 28) * 255,
                                  upright[3].astype(np.float32))


def test_bad_sources_are_refused() -> None:
    with pytest.raises(ValueError, match="uint8"):
        ImageSource(np.zeros((2, 28, 28), np.float32), np.zeros(2))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        ImageSource(_images(3, 0), np.zeros(2))
    with pytest.raises(ValueError, match="empty"):
        ImagePool([])


def test_byclass_mix_gives_each_class_its_prior_share_of_the_weight() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    synthetic = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1], dtype=bool)
    prior = np.zeros(NUM_CLASSES)
    prior[[0, 1, 2]] = [0.5, 0.3, 0.2]
    weights = sample_weights(labels, synthetic, 0.5, "byclass-mix", prior)
    assert weights.mean() == pytest.approx(1.0)
    mass = np.bincount(labels, weights=weights)
    np.testing.assert_allclose(mass / mass.sum(), [0.5, 0.3, 0.2], rtol=1e-6)
    # Inside a class a synthetic image weighs half a real one.
    assert weights[4] == pytest.approx(0.5 * weights[3])


def test_no_class_balance_only_weighs_synthetic_images_down() -> None:
    labels = np.array([3, 3, 4, 4])
    synthetic = np.array([0, 1, 0, 1], dtype=bool)
    weights = sample_weights(labels, synthetic, 0.25, "none")
    np.testing.assert_allclose(weights, np.array([1, 0.25, 1, 0.25]) / 0.625, rtol=1e-6)
    equal = sample_weights(labels, synthetic, 1.0, "inverse-frequency")
    np.testing.assert_allclose(equal, 1.0)
    with pytest.raises(ValueError, match="unknown class weighting"):
        sample_weights(labels, synthetic, 1.0, "balanced")


def test_the_power_tempers_the_class_balance() -> None:
    labels = np.array([0, 0, 0, 1])
    real = np.zeros(4, dtype=bool)
    prior = np.zeros(NUM_CLASSES)
    prior[[0, 1]] = [0.25, 0.75]
    full = sample_weights(labels, real, 1.0, "byclass-mix", prior)
    half = sample_weights(labels, real, 1.0, "byclass-mix", prior, power=0.5)
    off = sample_weights(labels, real, 1.0, "byclass-mix", prior, power=0.0)
    np.testing.assert_allclose(off, 1.0)
    # Class 1 weighs 9x class 0 with the full mix (0.75/0.25 over 1/3), 3x at power 0.5.
    assert full[3] / full[0] == pytest.approx(9.0) and half[3] / half[0] == pytest.approx(3.0)


def test_a_training_fraction_keeps_that_share_of_every_class() -> None:
    labels = np.repeat([3, 7, 9], [100, 40, 1])  # stored class by class, as the shipped pools are
    rows = training_rows(labels, 0.25, None, seed=0)
    assert np.all(np.diff(rows) > 0)  # pool order kept, no row twice
    assert np.bincount(labels[rows], minlength=10)[[3, 7, 9]].tolist() == [25, 10, 1]  # a class keeps one
    assert np.array_equal(rows, training_rows(labels, 0.25, None, seed=0))
    assert not np.array_equal(rows, training_rows(labels, 0.25, None, seed=1))
    # The limit then takes the first of those rows; without a fraction, the first rows of the pool.
    assert np.array_equal(training_rows(labels, 0.25, 30, seed=0), rows[:30])
    assert np.array_equal(training_rows(labels, None, 30, seed=0), np.arange(30))
    assert np.array_equal(training_rows(labels, 1.0, None, seed=0), np.arange(141))
    images = _images(141, 2)
    kept_images, kept_labels = training_subset(images, labels, 0.25, None, seed=0)
    assert np.array_equal(kept_images, images[rows]) and np.array_equal(kept_labels, labels[rows])
    assert training_subset(images, labels, None, None, seed=0)[0] is images  # nothing asked: no copy
