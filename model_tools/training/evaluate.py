"""Scoring a model on labelled images: one :class:`Predictor` interface and one report for every model form.

A model is a training checkpoint here (:class:`CheckpointPredictor`); the translation stage adds its ONNX
files and SavedModel folders behind the same interface (``model_tools.export.model_forms``, which also
holds the ``evaluate`` command), so the scores of every stage are measured the same way on the same images.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from emnist_contract.tensors import NUM_PIXELS
from model_tools.data.datasets import to_model_input
from model_tools.data.image_sources import LabelledImages
from model_tools.training.metrics import byclass_frequencies, classification_report, top_confusions

log = logging.getLogger(__name__)

PREDICT_BATCH = 1024


class Predictor(Protocol):
    """A loaded classifier: float32 [N, 784] upright pixels/255 -> float32 [N, 62] ByClass scores."""

    kind: str
    source: Path

    def predict(self, images: np.ndarray) -> np.ndarray: ...


def check_input(images: np.ndarray) -> np.ndarray:
    """The images as float32 [N, 784]; ValueError for any other shape."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 2 or images.shape[1] != NUM_PIXELS:
        raise ValueError(f"expected images float32 [N, {NUM_PIXELS}], got shape {list(images.shape)}")
    return images


def check_output(scores: np.ndarray, count: int, source: Path) -> np.ndarray:
    """A model's scores as float32 [count, 62]; ValueError naming the model otherwise."""
    scores = np.asarray(scores, dtype=np.float32)
    if scores.shape != (count, NUM_CLASSES):
        raise ValueError(f"{source}: returned scores of shape {list(scores.shape)}, expected "
                         f"[{count}, {NUM_CLASSES}]")
    return scores


class CheckpointPredictor:
    """A PyTorch training checkpoint, with softmax on top like the exported models."""

    kind = "checkpoint"

    def __init__(self, path: Path) -> None:
        from model_tools.training.checkpoint import load_checkpoint

        self.source = path
        self.checkpoint = load_checkpoint(path)
        if tuple(self.checkpoint.labels) != BYCLASS_LABELS:
            raise ValueError(f"{path}: the checkpoint's labels are not the 62 ByClass labels in order")
        self.model = self.checkpoint.model

    def predict(self, images: np.ndarray) -> np.ndarray:
        from model_tools.training.networks import softmax_scores

        images = check_input(images)
        return check_output(softmax_scores(self.model, images, PREDICT_BATCH), len(images), self.source)


def evaluate_predictor(predictor: Predictor, data: LabelledImages) -> dict[str, Any]:
    """The classification report (:func:`~model_tools.training.metrics.classification_report`), provenance."""
    if len(data.labels) == 0:
        raise ValueError(f"{data.description}: no images to evaluate")
    scores = predictor.predict(to_model_input(data.images))
    report = classification_report(data.labels, scores.argmax(axis=1), prior=byclass_frequencies())
    return {"model": str(predictor.source), "model_kind": predictor.kind, "data": data.description, **report}


def _fmt(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.3f}"


def format_report(report: dict[str, Any]) -> str:
    """Human-readable tables: summary, per-class precision/recall, top mistakes, confusion matrix."""
    lines = [
        f"model     {report['model']} ({report['model_kind']})",
        f"data      {report['data']}: {report['images']:,} images",
        f"accuracy  {report['accuracy'] * 100:.2f} % exact, "
        f"{report['accuracy_case_insensitive'] * 100:.2f} % case-insensitive "
        "(c/C, o/O, s/S ... count as right)",
    ]
    if report.get("accuracy_byclass_mix") is not None:
        lines.append(f"          {report['accuracy_byclass_mix'] * 100:.2f} % with its classes mixed as in "
                     "NIST's ByClass training set (per-class accuracy weighted by ByClass class shares)")
    for group, values in report["groups"].items():
        lines.append(f"  {group:<10} {values['images']:>6,} images  {values['accuracy'] * 100:6.2f} % exact  "
                     f"{values['accuracy_case_insensitive'] * 100:6.2f} % case-insensitive")
    matrix = np.asarray(report["confusion_matrix"])
    predicted = matrix.sum(axis=0)
    lines += ["", "class  support  predicted  precision  recall"]
    for index, char in enumerate(BYCLASS_LABELS):
        if report["support"][index] or predicted[index]:
            lines.append(f"  {char}    {report['support'][index]:7,}  {int(predicted[index]):9,}      "
                         f"{_fmt(report['precision'][index])}   {_fmt(report['recall'][index])}")
    absent = [c for i, c in enumerate(BYCLASS_LABELS) if not report["support"][i] and not predicted[i]]
    if absent:
        lines.append(f"  no images and never predicted: {' '.join(absent)}")
    mistakes = top_confusions(matrix)
    if mistakes:
        lines += ["", "most frequent mistakes (true -> predicted: count)"]
        lines.append("  " + ", ".join(f"{t}->{p}: {n}" for t, p, n in mistakes))
    shown = [i for i in range(NUM_CLASSES) if report["support"][i] or predicted[i]]
    width = max(3, len(str(int(matrix.max()))) + 1)
    lines += ["", "confusion matrix (rows: true class, columns: predicted; classes with neither images "
              "nor predictions left out)"]
    lines.append("   " + "".join(f"{BYCLASS_LABELS[j]:>{width}}" for j in shown))
    for i in shown:
        cells = "".join(f"{int(matrix[i, j]) or '.':>{width}}" for j in shown)
        lines.append(f"{BYCLASS_LABELS[i]:>2} {cells}")
    return "\n".join(lines)
