"""``evaluate``: score any of the pipeline's model forms on EMNIST images.

A model is a training checkpoint (``.pt``), an ONNX file (run in onnxruntime, brought to the
``images`` -> ``scores`` contract by :func:`model_tools.export.onnx_import.import_onnx_classifier`, which also
upgrades old opsets such as the reference model's) or a TensorFlow SavedModel folder (signature
``serving_default``, input ``images``). All three hide behind :class:`Predictor`, so the scores of
every stage are measured the same way on the same images.
"""

from __future__ import annotations

import argparse
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from model_tools.labels import BYCLASS_LABELS, NUM_CLASSES, NUM_PIXELS, char_to_label

log = logging.getLogger(__name__)

PREDICT_BATCH = 1024


class Predictor(Protocol):
    """A loaded classifier: float32 [N, 784] upright pixels/255 -> float32 [N, 62] ByClass scores."""

    kind: str
    source: Path

    def predict(self, images: np.ndarray) -> np.ndarray: ...


def _check_input(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 2 or images.shape[1] != NUM_PIXELS:
        raise ValueError(f"expected images float32 [N, {NUM_PIXELS}], got shape {list(images.shape)}")
    return images


def _check_output(scores: np.ndarray, count: int, source: Path) -> np.ndarray:
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
        from model_tools.training.networks import WithSoftmax

        self.source = path
        self.checkpoint = load_checkpoint(path)
        if tuple(self.checkpoint.labels) != BYCLASS_LABELS:
            raise ValueError(f"{path}: the checkpoint's labels are not the 62 ByClass labels in order")
        self.model = WithSoftmax(self.checkpoint.model).eval()

    def predict(self, images: np.ndarray) -> np.ndarray:
        import torch

        images = _check_input(images)
        with torch.inference_mode():
            parts = [self.model(torch.from_numpy(images[i : i + PREDICT_BATCH])).numpy()
                     for i in range(0, len(images), PREDICT_BATCH)]
        scores = np.concatenate(parts) if parts else np.zeros((0, NUM_CLASSES), np.float32)
        return _check_output(scores, len(images), self.source)


class OnnxPredictor:
    """An ONNX classifier in onnxruntime, normalised in memory (the file is never modified)."""

    kind = "onnx"

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        from model_tools.export.onnx_import import INPUT_NAME, OUTPUT_NAME, import_onnx_classifier

        self.source = path
        imported = import_onnx_classifier(path)
        self.changes = list(imported.changes)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            imported.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self._input, self._output = INPUT_NAME, OUTPUT_NAME

    def predict(self, images: np.ndarray) -> np.ndarray:
        images = _check_input(images)
        parts = [self.session.run([self._output], {self._input: images[i : i + PREDICT_BATCH]})[0]
                 for i in range(0, len(images), PREDICT_BATCH)]
        scores = np.concatenate(parts) if parts else np.zeros((0, NUM_CLASSES), np.float32)
        return _check_output(scores, len(images), self.source)


class SavedModelPredictor:
    """A TensorFlow SavedModel's ``serving_default`` signature (input ``images``, output ``scores``)."""

    kind = "savedmodel"
    signature = "serving_default"

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
        if list(inputs) != ["images"]:
            raise ValueError(f"{path}: signature {self.signature!r} takes {sorted(inputs)}, "
                             "expected 'images'")
        outputs = self._function.structured_outputs
        self._output = "scores" if "scores" in outputs else None
        if self._output is None:
            float_outputs = [k for k, v in outputs.items() if v.dtype == tf.float32]
            if len(float_outputs) != 1:
                raise ValueError(f"{path}: no 'scores' output in {sorted(outputs)}")
            self._output = float_outputs[0]
        self._tf = tf

    def predict(self, images: np.ndarray) -> np.ndarray:
        images = _check_input(images)
        parts = [self._function(images=self._tf.constant(images[i : i + PREDICT_BATCH]))[self._output].numpy()
                 for i in range(0, len(images), PREDICT_BATCH)]
        scores = np.concatenate(parts) if parts else np.zeros((0, NUM_CLASSES), np.float32)
        return _check_output(scores, len(images), self.source)


def _saved_model_dir(path: Path) -> Path:
    """The SavedModel folder itself, or the newest numeric version inside a TF Serving model base."""
    if (path / "saved_model.pb").is_file():
        return path
    versions = sorted((int(p.name), p) for p in path.iterdir()
                      if p.is_dir() and p.name.isdigit() and (p / "saved_model.pb").is_file())
    if versions:
        return versions[-1][1]
    raise ValueError(f"{path}: a folder but not a SavedModel (no saved_model.pb, no numeric version folder "
                     "holding one)")


def load_predictor(path: str | Path) -> Predictor:
    """Open a checkpoint (.pt), an ONNX file (.onnx) or a SavedModel folder, by what the path is."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    if path.is_dir():
        return SavedModelPredictor(_saved_model_dir(path))
    if path.suffix == ".onnx":
        return OnnxPredictor(path)
    if path.suffix in (".pt", ".pth"):
        return CheckpointPredictor(path)
    raise ValueError(f"{path}: unknown model type; expected a checkpoint (.pt), an ONNX file (.onnx) or a "
                     "SavedModel folder")


# ------------------------------------------------------------------------------------------------ data


@dataclass
class LabelledImages:
    """Images to score: uint8 [N, 28, 28] upright, ByClass labels, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    description: str


_IDX_NAME = re.compile(
    r"emnist-(?P<split>[a-z]+)-(?P<part>train|test)-(images-idx3|labels-idx1)-ubyte(\.gz)?$"
)


def _to_byclass(labels: np.ndarray, mapping: dict[int, str], source: str) -> np.ndarray:
    """Translate a split's own label numbers to ByClass indices through its mapping's characters.

    'letters' maps a label to both cases ("Aa") and bymerge/balanced merge look-alike cases under one
    character: those images get the first character's class, so for them the case-insensitive accuracy
    is the meaningful one.
    """
    lookup = {label: char_to_label(chars[0]) for label, chars in mapping.items() if chars}
    try:
        return np.array([lookup[int(label)] for label in labels], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"{source}: label {exc.args[0]} is not in the split's mapping") from None


def load_images(split: str = "validation", data: str | Path | None = None, part: str = "test",
                data_dir: str | Path | None = None) -> LabelledImages:
    """A shipped split, or any file the loaders read: a NIST idx images file (its labels file and
    mapping beside it), a NIST ``emnist-<split>.mat`` (``part`` train/test), or an ``.npz`` with
    ``images`` uint8 [N, 28, 28] upright and ByClass ``labels``."""
    from model_tools.data.datasets import load_split

    if data is None:
        images, labels = load_split(split, data_dir)
        return LabelledImages(images, labels, f"shipped {split} split")
    from model_tools.data import emnist_io

    path = Path(data)
    if not path.exists():
        raise FileNotFoundError(f"no data at {path}")
    if path.suffix == ".npz":
        try:
            with np.load(path) as content:
                if "images" not in content or "labels" not in content:
                    raise ValueError(f"{path}: an .npz needs 'images' and 'labels' arrays "
                                     f"(found {', '.join(content.files) or 'none'})")
                images, labels = content["images"], content["labels"].astype(np.int64)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: not a readable .npz file: {exc}") from None
        if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise ValueError(f"{path}: expected images [N, 28, 28] and N labels, got {images.shape} and "
                             f"{labels.shape}")
        if labels.size and not 0 <= labels.min() <= labels.max() < NUM_CLASSES:
            raise ValueError(f"{path}: labels must be ByClass indices 0-{NUM_CLASSES - 1}")
        return LabelledImages(images.astype(np.uint8), labels, str(path))
    if path.suffix == ".mat":
        loaded = emnist_io.load_mat_split(path, part)
        return LabelledImages(loaded.images, _to_byclass(loaded.labels, loaded.mapping, str(path)),
                              f"{path} ({part})")
    match = _IDX_NAME.match(path.name)
    if match:
        loaded = emnist_io.load_idx_split(path.parent, match["split"], match["part"])
        return LabelledImages(loaded.images, _to_byclass(loaded.labels, loaded.mapping, str(path)),
                              f"{path.parent}/emnist-{match['split']}-{match['part']}")
    raise ValueError(f"{path}: unknown data file; expected a NIST idx file named "
                     "emnist-<split>-<train|test>-images-idx3-ubyte[.gz], a NIST emnist-<split>.mat "
                     "or an .npz")


# ----------------------------------------------------------------------------------------- evaluation


def evaluate_predictor(predictor: Predictor, data: LabelledImages) -> dict[str, Any]:
    """The classification report (:func:`~model_tools.training.metrics.classification_report`), provenance."""
    from model_tools.data.datasets import to_model_input
    from model_tools.training.metrics import byclass_frequencies, classification_report

    if len(data.labels) == 0:
        raise ValueError(f"{data.description}: no images to evaluate")
    scores = predictor.predict(to_model_input(data.images))
    report = classification_report(data.labels, scores.argmax(axis=1), prior=byclass_frequencies())
    return {"model": str(predictor.source), "model_kind": predictor.kind, "data": data.description, **report}


def _fmt(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.3f}"


def format_report(report: dict[str, Any]) -> str:
    """Human-readable tables: summary, per-class precision/recall, top mistakes, confusion matrix."""
    from model_tools.training.metrics import top_confusions

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


def run(args: argparse.Namespace) -> int:
    from model_tools.training.train import write_json

    predictor = load_predictor(args.model)
    data = load_images(args.split, args.data, args.part, args.data_dir)
    log.info("scoring %s on %s (%d images)", args.model, data.description, len(data.labels))
    report = evaluate_predictor(predictor, data)
    print(format_report(report))
    if args.json:
        write_json(Path(args.json), report)
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
    parser.add_argument("model", help="checkpoint .pt, .onnx file or SavedModel folder")
    parser.add_argument("--split", default="validation", choices=("train", "validation", "test", "mnist"),
                        help="shipped split to score (default: validation)")
    parser.add_argument("--data", default=None,
                        help="score these images instead: a NIST idx images file "
                        "(emnist-<split>-<part>-images-idx3-ubyte[.gz]), a NIST emnist-<split>.mat "
                        "or an .npz")
    parser.add_argument("--part", default="test", choices=("train", "test"),
                        help="part of a .mat file to score (default: test)")
    parser.add_argument("--data-dir", default=None, help="folder of the shipped splits (default: data/)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the full report as JSON")
    parser.set_defaults(func=run)
