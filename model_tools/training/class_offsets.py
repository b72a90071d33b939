"""``class-offsets``: let a trained model answer the classes it knows but never gives.

A model trained on NIST's class mix answers the frequent twin of a letter drawn like another (C for c,
O for o, S for s): after EMNIST's crop to the ink the two look alike, and NIST's writers wrote the upper
case far more often. Adding an offset to such a class's logit (the bias of the last layer, so the network
and its export stay the same) makes the model answer it where its score comes close. Each offset is
chosen on the real *training* images, the largest step that does not lower their ByClass-mix accuracy,
so the validation split stays an independent judge of the result.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES, char_to_label
from model_tools.common.atomic_io import write_json_atomic
from model_tools.data.datasets import load_split, to_model_input
from model_tools.training.metrics import byclass_frequencies, classification_report, prior_weighted_accuracy
from model_tools.training.run_metrics import classes_predicted, report_summary

log = logging.getLogger(__name__)

#: The offsets tried, in logit units: 0, STEP, 2 STEP, ... up to MAX_OFFSET.
STEP = 0.25
MAX_OFFSET = 3.0


def choose_offsets(logits: np.ndarray, labels: np.ndarray, classes: list[int], prior: np.ndarray,
                   step: float = STEP, max_offset: float = MAX_OFFSET) -> np.ndarray:
    """Offsets float64 [62]: for each class in turn, the largest multiple of ``step`` up to ``max_offset``
    whose predictions keep the ByClass-mix accuracy at least where it was without offsets; 0 elsewhere.

    The whole range is tried, not only up to the first step that costs: one image of a rare class can
    dip the accuracy at a small offset that a larger one more than wins back."""
    offsets = np.zeros(NUM_CLASSES)
    baseline = prior_weighted_accuracy(labels, logits.argmax(1), prior)
    for index in classes:
        for offset in np.arange(step, max_offset + step / 2, step):
            trial = offsets.copy()
            trial[index] = offset
            if prior_weighted_accuracy(labels, (logits + trial).argmax(1), prior) >= baseline:
                offsets[index] = offset
    return offsets


def last_linear(model: Any) -> Any:
    """The layer that writes the 62 logits (every architecture here ends with one ``nn.Linear``)."""
    from torch import nn

    layers = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == NUM_CLASSES]
    if not layers or layers[-1].bias is None:
        raise ValueError("the model does not end with a linear layer with a bias over the 62 classes")
    return layers[-1]


def apply_offsets(model: Any, offsets: np.ndarray) -> None:
    """Add ``offsets`` to the model's logits, in place (the bias of its last layer)."""
    import torch

    layer = last_linear(model)
    with torch.no_grad():
        layer.bias += torch.as_tensor(offsets, dtype=layer.bias.dtype)


def _classes_to_offset(metrics: dict[str, Any], train_labels: np.ndarray, given: str | None) -> list[int]:
    """The classes named on the command line, else those with training images that the run's model
    never predicted on validation (``classes_predicted_on_validation`` of its ``metrics.json``)."""
    if given:
        return [char_to_label(char.strip()) for char in given.split(",") if char.strip()]
    predicted = set(metrics.get("classes_predicted_on_validation") or BYCLASS_LABELS)
    trained = np.bincount(train_labels, minlength=NUM_CLASSES) > 0
    return [i for i, char in enumerate(BYCLASS_LABELS) if trained[i] and char not in predicted]


def run_reports(model: Any, metrics: dict[str, Any], data_dir: Path | None) -> dict[str, Any]:
    """The run's validation reports again (real, held-out fonts, official test digits), for the new model."""
    from model_tools.training.networks import softmax_scores

    prior = byclass_frequencies(data_dir)
    splits = {"validation": "validation", "validation_synthetic": "synthetic", "test": "test"}
    reports = {}
    for key, split in splits.items():
        if key == "validation" or metrics.get(key):
            images, labels = load_split(split, data_dir)
            predictions = softmax_scores(model, to_model_input(images)).argmax(1)
            reports[key] = classification_report(labels, predictions, prior=prior)
    return reports


def offset_run(run: Path, out: Path, classes: str | None = None,
               data_dir: Path | None = None) -> dict[str, Any]:
    """Write ``out`` (checkpoint.pt, metrics.json): the run's model with offsets on its never-given
    classes, its reports measured again. Returns the new metrics."""
    import torch

    from model_tools.training.checkpoint import load_checkpoint
    from model_tools.training.train import predict_logits

    checkpoint = load_checkpoint(run / "checkpoint.pt")
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    images, labels = load_split("train", data_dir)
    chosen = _classes_to_offset(metrics, labels, classes)
    logits = predict_logits(checkpoint.model, torch.from_numpy(to_model_input(images))).numpy()
    offsets = choose_offsets(logits, labels, chosen, byclass_frequencies(data_dir))
    apply_offsets(checkpoint.model, offsets)
    reports = run_reports(checkpoint.model, metrics, data_dir)
    given = {BYCLASS_LABELS[i]: float(offsets[i]) for i in chosen}
    metrics.update(reports)
    metrics["class_offsets"] = {"from_run": str(run), "offsets": given, "chosen_on": "train",
                                "rule": f"largest multiple of {STEP} up to {MAX_OFFSET} keeping the training "
                                        "images' ByClass-mix accuracy"}
    return save_derived_run(checkpoint, metrics, reports, out)


def _command(args: argparse.Namespace) -> int:
    run, out = Path(args.run), Path(args.out)
    check_run_folders(run, out)
    metrics = offset_run(run, out, args.classes, Path(args.data_dir) if args.data_dir else None)
    offsets = metrics["class_offsets"]["offsets"]
    listed = ", ".join(f"{char} +{value:g}" for char, value in offsets.items())
    print(f"offsets: {listed or 'none (every class is given)'}")
    summary = metrics["summary"]
    print(f"validation: {summary['val_accuracy'] * 100:.2f} % exact, "
          f"{summary['val_accuracy_byclass_mix'] * 100:.2f} % ByClass mix; classes predicted "
          f"{len(metrics['classes_predicted_on_validation'])} of {NUM_CLASSES}")
    print(f"wrote {out}/checkpoint.pt and {out}/metrics.json")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "class-offsets", help="let a trained model answer the classes it knows but never gives",
        description="Copy a training run with an offset added to the logits of classes its model never "
                    "predicts on validation (or --classes): per class, the largest step that keeps the "
                    "ByClass-mix accuracy of the real training images. The validation reports are measured "
                    "again; the new folder goes through `pipeline` like any run.")
    parser.add_argument("run", help="training run folder, e.g. runs/cnn62")
    parser.add_argument("--out", required=True, help="the new run folder, e.g. runs/cnn62-offsets")
    parser.add_argument("--classes", default=None, metavar="LIST",
                        help="labels separated by commas (default: the classes with training images that the "
                             "run's model never predicts on validation)")
    parser.add_argument("--data-dir", default=None,
                        help="the shipped data folder (default: the project's data/)")
    parser.set_defaults(func=_command)


def check_run_folders(run: Path, out: Path) -> None:
    """A run folder to start from, and a new folder for the run made from it."""
    if not (run / "checkpoint.pt").is_file() or not (run / "metrics.json").is_file():
        raise ValueError(f"{run}: not a training run folder (needs checkpoint.pt and metrics.json)")
    if out.resolve() == run.resolve():
        raise ValueError("--out must be a new folder: the run it starts from stays as it is")


def save_derived_run(checkpoint: Any, metrics: dict[str, Any], reports: dict[str, Any],
                     out: Path) -> dict[str, Any]:
    """Write a run made from another one (class offsets, an adjusted prior) into ``out``: its checkpoint,
    and ``metrics.json`` with the classes it predicts, its per-class accuracy and its summary."""
    from model_tools.training.checkpoint import save_checkpoint

    metrics["classes_predicted_on_validation"] = classes_predicted(reports)
    metrics["per_class_accuracy"] = dict(zip(BYCLASS_LABELS, reports["validation"]["recall"], strict=True))
    summary = {**metrics.get("summary", {}), **report_summary(reports)}
    metrics["summary"] = summary
    out.mkdir(parents=True, exist_ok=True)
    checkpoint.metrics = summary
    save_checkpoint(checkpoint, out / "checkpoint.pt")
    metrics["checkpoint_sha256"] = checkpoint.sha256
    write_json_atomic(out / "metrics.json", metrics)
    return metrics
