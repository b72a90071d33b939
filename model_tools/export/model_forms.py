"""The pipeline's model forms behind one Predictor, and ``evaluate``, the command that scores any of them.

A training checkpoint (``.pt``, :class:`~model_tools.training.evaluate.CheckpointPredictor`), an ONNX file
(run in onnxruntime after :func:`~model_tools.export.onnx_import.import_onnx_classifier` brought it to the
contract in memory, so old opsets such as the reference model's run too) or a TensorFlow SavedModel
folder (its default signature). The command lives here, with the forms it opens; the scoring and the
report are the training stage's (:mod:`model_tools.training.evaluate`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.layout import SAVED_MODEL_FILE, is_version_name
from emnist_contract.signatures import DEFAULT_SIGNATURE, INPUT_KEY, SCORES_KEY
from model_tools.common.atomic_io import write_json_atomic
from model_tools.data.datasets import SPLITS
from model_tools.data.image_sources import load_images
from model_tools.training.ensemble import MEMBER_SEPARATOR, EnsemblePredictor, ensemble_members
from model_tools.training.evaluate import (
    PREDICT_BATCH,
    CheckpointPredictor,
    Predictor,
    check_input,
    check_output,
    evaluate_predictor,
    format_report,
)

log = logging.getLogger(__name__)


class OnnxPredictor:
    """An ONNX classifier in onnxruntime, normalised in memory (the file is never modified)."""

    kind = "onnx"

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        from model_tools.export.onnx_import import import_onnx_classifier

        self.source = path
        imported = import_onnx_classifier(path)
        self.changes = list(imported.changes)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            imported.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def predict(self, images: np.ndarray) -> np.ndarray:
        images = check_input(images)
        parts = [self.session.run([SCORES_KEY], {INPUT_KEY: images[i : i + PREDICT_BATCH]})[0]
                 for i in range(0, len(images), PREDICT_BATCH)]
        scores = np.concatenate(parts) if parts else np.zeros((0, NUM_CLASSES), np.float32)
        return check_output(scores, len(images), self.source)


class SavedModelPredictor:
    """A TensorFlow SavedModel's default signature (input ``images``, output ``scores``)."""

    kind = "savedmodel"
    signature = DEFAULT_SIGNATURE

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self.source = path
        try:
            loaded = tf.saved_model.load(str(path))
        except Exception as exc:  # TF raises OSError, ValueError or its own errors for broken folders
            raise ValueError(f"{path}: not a loadable SavedModel: {exc}") from exc
        if self.signature not in loaded.signatures:
            raise ValueError(f"{path}: no {self.signature!r} signature (has {sorted(loaded.signatures)})")
        self._loaded = loaded  # keeps the variables alive
        self._function = loaded.signatures[self.signature]
        _, inputs = self._function.structured_input_signature
        if list(inputs) != [INPUT_KEY]:
            raise ValueError(f"{path}: signature {self.signature!r} takes {sorted(inputs)}, "
                             f"expected {INPUT_KEY!r}")
        outputs = self._function.structured_outputs
        self._output = SCORES_KEY if SCORES_KEY in outputs else None
        if self._output is None:
            float_outputs = [k for k, v in outputs.items() if v.dtype == tf.float32]
            if len(float_outputs) != 1:
                raise ValueError(f"{path}: no {SCORES_KEY!r} output in {sorted(outputs)}")
            self._output = float_outputs[0]
        self._tf = tf

    def predict(self, images: np.ndarray) -> np.ndarray:
        images = check_input(images)
        parts = [self._function(**{INPUT_KEY: self._tf.constant(images[i : i + PREDICT_BATCH])})[self._output]
                 .numpy() for i in range(0, len(images), PREDICT_BATCH)]
        scores = np.concatenate(parts) if parts else np.zeros((0, NUM_CLASSES), np.float32)
        return check_output(scores, len(images), self.source)


def saved_model_dir(path: Path) -> Path:
    """The SavedModel folder itself, or the newest version inside a TF Serving model base."""
    if (path / SAVED_MODEL_FILE).is_file():
        return path
    versions = sorted((int(p.name), p) for p in path.iterdir()
                      if p.is_dir() and is_version_name(p.name) and (p / SAVED_MODEL_FILE).is_file())
    if versions:
        return versions[-1][1]
    raise ValueError(f"{path}: a folder but not a SavedModel (no {SAVED_MODEL_FILE}, no numeric version "
                     "folder holding one)")


def load_predictor(path: str | Path) -> Predictor:
    """Open a checkpoint (.pt), an ONNX file (.onnx) or a SavedModel folder, by what the path is; a path
    that does not exist but joins existing ones with ``+`` (``a.onnx+b.pt``) opens their ensemble, the mean
    of their softmax scores."""
    path = Path(path)
    if not path.exists() and MEMBER_SEPARATOR in str(path):
        return EnsemblePredictor([load_predictor(member) for member in ensemble_members(path)], path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    if path.is_dir():
        return SavedModelPredictor(saved_model_dir(path))
    if path.suffix == ".onnx":
        return OnnxPredictor(path)
    if path.suffix in (".pt", ".pth"):
        return CheckpointPredictor(path)
    raise ValueError(f"{path}: unknown model type; expected a checkpoint (.pt), an ONNX file (.onnx) or a "
                     "SavedModel folder")


def run(args: argparse.Namespace) -> int:
    predictor = load_predictor(args.model)
    data = load_images(args.split, args.data, args.part, args.data_dir)
    log.info("scoring %s on %s (%d images)", args.model, data.description, len(data.labels))
    report = evaluate_predictor(predictor, data)
    print(format_report(report))
    if args.json:
        write_json_atomic(args.json, report)
        log.info("wrote %s", args.json)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="accuracy, per-class precision/recall and confusion matrix of a model",
        description="Score a checkpoint (.pt), an ONNX file (.onnx, old opsets upgraded in memory) or a "
        "SavedModel folder on a shipped split or on NIST files: accuracy (exact and case-insensitive), "
        "per-class precision and recall, the most frequent mistakes and the confusion matrix.",
    )
    parser.add_argument("model", help="checkpoint .pt, .onnx file or SavedModel folder; a.onnx+b.pt: the "
                        "mean of their softmax scores (an ensemble)")
    parser.add_argument("--split", default="validation", choices=SPLITS,
                        help="shipped split to score (default: validation, the real images; synthetic: the "
                        "characters drawn from held-out fonts)")
    parser.add_argument("--data", default=None,
                        help="score these images instead: a NIST idx images file "
                        "(emnist-<split>-<part>-images-idx3-ubyte[.gz]), a NIST emnist-<split>.mat "
                        "or an .npz")
    parser.add_argument("--part", default="test", choices=("train", "test"),
                        help="part of a .mat file to score (default: test)")
    parser.add_argument("--data-dir", default=None, help="folder of the shipped splits (default: data/)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the full report as JSON")
    parser.set_defaults(func=run)
