"""How far a model's softmax confidence can be trusted: reliability bins and expected calibration error.

The web page shows the top score as a confidence cue, so a 0.9 should be right about nine times in ten.
The top score of each image is binned into equal-width confidence bins; per bin the mean confidence is set
against the share of right answers (the reliability diagram), and the expected calibration error (ECE) is
their gap averaged over the bins, weighted by the bins' image counts (Guo et al. 2017). Pure numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Equal-width confidence bins over [0, 1].
DEFAULT_BINS = 15


def reliability(scores: np.ndarray, labels: np.ndarray, bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """Per bin of top-score confidence: images, mean confidence, accuracy; and the ECE. JSON-ready.

    ``scores`` float [N, C] (softmax outputs), ``labels`` int [N]. Bins are right-closed except the first
    ((0, 1/b], ..., a confidence of exactly 0 counts in the first bin); an empty bin has None for its
    confidence and accuracy and weighs nothing in the ECE.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"expected scores [N, C] and N labels, got {list(scores.shape)} and {len(labels)}")
    if len(labels) == 0:
        raise ValueError("cannot measure calibration on no images")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    confidence = scores.max(axis=1)
    correct = (scores.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    confidence_sum = np.bincount(index, weights=confidence, minlength=bins)
    correct_sum = np.bincount(index, weights=correct, minlength=bins)
    filled = counts > 0
    mean_confidence = np.where(filled, confidence_sum / np.maximum(counts, 1), np.nan)
    bin_accuracy = np.where(filled, correct_sum / np.maximum(counts, 1), np.nan)
    gaps = np.abs(mean_confidence - bin_accuracy)[filled]
    ece = float(np.sum(counts[filled] * gaps) / counts.sum())
    return {
        "edges": edges.tolist(),
        "images": counts.tolist(),
        "confidence": [float(v) if ok else None for v, ok in zip(mean_confidence, filled, strict=True)],
        "accuracy": [float(v) if ok else None for v, ok in zip(bin_accuracy, filled, strict=True)],
        "mean_confidence": float(confidence.mean()),
        "accuracy_overall": float(correct.mean()),
        "expected_calibration_error": ece,
    }
