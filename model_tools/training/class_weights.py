"""Per-class loss weights for ``train --class-weights``: which class mix the training loss fits.

The shipped pool's mix is an accident of its sources (lowercase-heavy); NIST's ByClass data, which
EMNIST's test sets and the reference model follow, is about half digits. ``byclass-mix`` weights each
class by its ByClass share over its pool share; ``inverse-frequency`` gives every class present the same
total weight. A class without training images gets weight 0: it never appears as a target.
"""

from __future__ import annotations

import numpy as np

from emnist_contract.labels import NUM_CLASSES

#: The choices of ``--class-weights``.
CLASS_WEIGHTS = ("none", "inverse-frequency", "byclass-mix")


def byclass_mix_weights(labels: np.ndarray, byclass: np.ndarray) -> np.ndarray:
    """Per-class loss weights share_byclass(c) / share_train(c): training then fits NIST's ByClass class
    mix (half digits) instead of the shipped pool's (lowercase-heavy). 0 for classes with no images."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=NUM_CLASSES).astype(np.float64)
    present = counts > 0
    if not present.any():
        raise ValueError("no training labels")
    weights = np.zeros(NUM_CLASSES, dtype=np.float64)
    weights[present] = np.asarray(byclass, dtype=np.float64)[present] / (counts[present] / counts.sum())
    weights /= np.sum(weights[present] * counts[present]) / counts.sum()  # mean weight per image = 1
    return weights.astype(np.float32)


def inverse_frequency_weights(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Per-class loss weights n / (k * n_c) over the k classes present; 0 for classes with no images.

    A class without images never appears as a target, so its weight never enters the loss: 0 only
    keeps the vector finite (1/0 would be inf and poison the weighted mean).
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).astype(np.float64)
    present = counts > 0
    if not present.any():
        raise ValueError("no training labels")
    weights = np.zeros(num_classes, dtype=np.float64)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)

