"""The version's model info: which classes the model never saw a training image of, and which class
prior its scores carry.

A model has 62 outputs whatever it was trained on, so what it cannot answer is not in the graph. The
export stage writes it into ``assets.extra/model_info.json`` (``emnist_contract.layout``): from the
training run's ``metrics.json`` (``classes_without_training_images``, written by ``train``) for our
checkpoints, or from ``--untrained-classes`` for a foreign model. For our runs it also records the class
mix the served scores are fitted to (``class_prior``: the training loss's class weights, or a
``logit-adjust`` of them), so a deployment knows which writers' mix the answers favour, and the temperature
its logits were divided by (``calibration``, from ``calibrate``) when they were. ``convert`` and
``pipeline`` write it into every new version; ``model-info`` writes it into an existing one (only that
file changes).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emnist_contract import layout
from emnist_contract.labels import BYCLASS_LABELS
from model_tools.common.atomic_io import write_text_atomic
from model_tools.common.paths import PROJECT_ROOT

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
#: ``--untrained-classes`` value of a model trained on every class.
NONE = "none"


@dataclass(frozen=True)
class ModelInfo:
    """The classes without training images, and where that was learnt (kept in the file); the class
    prior of the scores when the run records it."""

    untrained_classes: tuple[str, ...]
    source: str
    class_prior: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None


#: ``train --class-weights`` -> the ``--prior`` name of the class mix that loss fits.
PRIOR_OF_CLASS_WEIGHTS = {"byclass-mix": "byclass", "none": "train", "inverse-frequency": "uniform"}


def class_prior_of(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The class mix a run's scores are fitted to: its ``logit-adjust`` prior, else its loss's class
    weights; with ``class-offsets``' offsets when it has them (applied last, on top of either); None when
    the run records neither."""
    adjusted = metrics.get("logit_adjustment")
    prior: dict[str, Any]
    if isinstance(adjusted, dict):
        chosen = "chosen on the validation images" if adjusted.get("chosen_on") == "validation" else "given"
        if adjusted.get("tau_rule") == "keep-byclass":
            chosen += " (the largest keeping their ByClass-mix accuracy)"
        prior = {"prior": adjusted.get("prior"), "tau": adjusted.get("tau"),
                 "how": f"logit adjustment (Menon et al. 2021) of {adjusted.get('from_run')}, tau {chosen}"}
    else:
        weights = (metrics.get("config") or {}).get("class_weights")
        if weights not in PRIOR_OF_CLASS_WEIGHTS:
            return None
        prior = {"prior": PRIOR_OF_CLASS_WEIGHTS[weights],
                 "how": f"the training loss's class weights (--class-weights {weights})"}
        power = (metrics.get("config") or {}).get("class_weight_power", 1.0)
        if power != 1.0:
            prior["how"] += f", tempered to the power {power:g}"
    offsets = (metrics.get("class_offsets") or {}).get("offsets")
    if offsets:
        prior["class_offsets"] = offsets
    return prior


def calibration_of(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The temperature the run's logits were divided by (``calibrate``), and how it was chosen; None for a
    run without temperature scaling."""
    scaled = metrics.get("temperature_scaling")
    if not isinstance(scaled, dict):
        return None
    chosen = ("chosen on the real validation images (lowest negative log-likelihood)"
              if scaled.get("chosen_on") == "validation" else "given")
    how = f"temperature scaling (Guo et al. 2017) of {scaled.get('from_run')}, T {chosen}"
    calibration: dict[str, Any] = {"temperature": scaled.get("temperature"), "how": how}
    ece = scaled.get("validation_ece")
    if isinstance(ece, dict):
        calibration["validation_ece"] = ece
    return calibration


def _shown(path: Path) -> str:
    """A path as the file records it: relative to the project when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(PROJECT_ROOT)) if resolved.is_relative_to(PROJECT_ROOT) else str(path)


def info_from_run(run: str | Path) -> ModelInfo:
    """The model info of a training run: its folder, or its checkpoint file (the run folder holds both)."""
    run = Path(run)
    folder = run if run.is_dir() else run.parent
    metrics_path = folder / METRICS_FILE
    if not metrics_path.is_file():
        raise FileNotFoundError(
            f"{folder}: no {METRICS_FILE}, so the classes without training images are unknown; "
            f"give them with --untrained-classes (a comma-separated list, or {NONE})")
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        classes = metrics[layout.UNTRAINED_CLASSES_KEY]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{metrics_path}: no {layout.UNTRAINED_CLASSES_KEY} (not from train?)") from None
    if not isinstance(classes, list):
        raise ValueError(f"{metrics_path}: {layout.UNTRAINED_CLASSES_KEY} is not a list")
    return ModelInfo(tuple(classes), _shown(metrics_path), class_prior_of(metrics), calibration_of(metrics))


def info_from_option(text: str, source: str = "given with --untrained-classes") -> ModelInfo:
    """``J,Q,X`` (labels, comma-separated) or ``none`` -> the model info."""
    text = text.strip()
    if text.lower() == NONE:
        return ModelInfo((), source)
    classes = tuple(part.strip() for part in text.split(","))
    if not text or any(not part for part in classes):
        raise ValueError(f"--untrained-classes {text!r}: expected labels separated by commas, or {NONE}")
    return ModelInfo(classes, source)


def resolve_model_info(untrained_classes: str | None, run: str | Path | None) -> ModelInfo | None:
    """What a new version's model info is: the option's list, else the run's; None (warned) when unknown."""
    if untrained_classes is not None:
        return info_from_option(untrained_classes)
    if run is not None:
        try:
            return info_from_run(run)
        except FileNotFoundError as exc:
            log.warning("no model info written: %s", exc)
            return None
    log.warning("no model info written: the classes the model had no training images of are unknown; give "
                "them with --untrained-classes (a comma-separated list, or %s)", NONE)
    return None


def version_labels(version_dir: Path) -> tuple[str, ...]:
    """The labels a version answers with (its labels file; the ByClass order without one)."""
    path = version_dir / layout.LABELS_FILE
    if not path.is_file():
        return BYCLASS_LABELS
    return layout.parse_labels(path.read_text(encoding="utf-8"), str(path))


def write_model_info(version_dir: str | Path, info: ModelInfo) -> Path:
    """Write (or replace) the version's model-info file atomically; ValueError for a non-label."""
    version_dir = Path(version_dir)
    extra: dict[str, Any] = {"source": info.source}
    if info.class_prior is not None:
        extra["class_prior"] = info.class_prior
    if info.calibration is not None:
        extra["calibration"] = info.calibration
    text = layout.model_info_text(info.untrained_classes, version_labels(version_dir), **extra)
    path = version_dir / layout.MODEL_INFO_FILE
    write_text_atomic(path, text)
    return path


def _model_info_command(args: argparse.Namespace) -> int:
    version_dir = Path(args.version_dir)
    if not any((version_dir / name).is_file() for name in (layout.SAVED_MODEL_FILE, layout.ONNX_FILE)):
        raise FileNotFoundError(f"{version_dir}: not a model version (no saved_model.pb, no model.onnx)")
    if (args.run is None) == (args.untrained_classes is None):
        raise ValueError("give exactly one of --run and --untrained-classes")
    info = info_from_run(args.run) if args.run else info_from_option(args.untrained_classes, args.source)
    path = write_model_info(version_dir, info)
    listed = " ".join(info.untrained_classes) or "none"
    print(f"wrote {path}: classes without training images: {listed} (from {info.source})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "model-info", help="write a version's assets.extra/model_info.json (its untrained classes)",
        description="Write the model-info file of an existing version folder: the classes its model had "
                    "no training images of, from the training run's metrics.json or given by hand for a "
                    "foreign model. No other file of the version changes.")
    parser.add_argument("version_dir", help="the version folder, e.g. models/emnist/1")
    parser.add_argument("--run", default=None, help="training run folder (or its checkpoint), e.g. runs/cnn")
    parser.add_argument("--untrained-classes", default=None, metavar="LIST",
                        help=f"labels separated by commas, or {NONE} (a model trained on every class)")
    parser.add_argument("--source", default="given with --untrained-classes",
                        help="where the list comes from, recorded in the file (with --untrained-classes)")
    parser.set_defaults(func=_model_info_command)
