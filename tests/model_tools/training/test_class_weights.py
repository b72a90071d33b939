"""Class weights: the loss fits the chosen class mix; classes without images get 0, never inf."""

from __future__ import annotations

import numpy as np
import pytest

from model_tools.training.class_weights import byclass_mix_weights, inverse_frequency_weights

NUM_CLASSES = 62


def test_inverse_frequency_weights_skip_classes_without_images() -> None:
    labels = np.array([0, 0, 0, 1, 2, 2])
    weights = inverse_frequency_weights(labels)
    assert weights.shape == (NUM_CLASSES,)
    assert np.all(np.isfinite(weights))
    np.testing.assert_allclose(weights[:3], [6 / (3 * 3), 6 / (3 * 1), 6 / (3 * 2)], rtol=1e-6)
    assert np.all(weights[3:] == 0)
    with pytest.raises(ValueError):
        inverse_frequency_weights(np.array([], dtype=np.int64))


def test_byclass_mix_weights_move_the_training_mix_to_nist_shares() -> None:
    labels = np.array([0, 36, 36, 36])  # one '0', three 'a'
    byclass = np.zeros(NUM_CLASSES)
    byclass[0], byclass[36], byclass[1] = 0.5, 0.25, 0.25  # '1' has no training image
    weights = byclass_mix_weights(labels, byclass)
    assert np.all(np.isfinite(weights)) and weights[1] == 0
    # Weighted, the training images carry the ByClass proportions of the classes present: 2 : 1.
    mass = np.bincount(labels, weights=weights[labels], minlength=NUM_CLASSES)
    assert mass[0] / mass[36] == pytest.approx(2.0)
    assert weights[labels].mean() == pytest.approx(1.0)
