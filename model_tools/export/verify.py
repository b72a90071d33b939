"""Proof that a SavedModel version computes what its ONNX file (and checkpoint) computes, on real images.

A version passes when, on the validation images, every signature's scores are within 1e-5 (absolute)
of onnxruntime on ``model.onnx`` and of PyTorch on the checkpoint when one is given, with identical
argmax; when its signatures are the contract's; and its labels and warmup records are in place.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from emnist_contract.layout import LABELS_FILE, ONNX_FILE, SAVED_MODEL_FILE
from emnist_contract.signatures import (
    CLASSES_KEY,
    CLASSIFY_INPUT_KEY,
    CLASSIFY_METHOD,
    CLASSIFY_SIGNATURE,
    INPUT_KEY,
    PREDICT_METHOD,
    PREDICT_OUTPUTS,
    PREDICT_SIGNATURES,
    SCORES_KEY,
    TAG,
)
from emnist_contract.tensors import NUM_PIXELS
from model_tools.data.datasets import validation_inputs
from model_tools.export.onnx_import import import_onnx_classifier
from model_tools.export.onnx_model import onnxruntime_scores
from model_tools.export.parity import Parity, compare_scores
from model_tools.export.signatures import describe_signatures

log = logging.getLogger(__name__)

#: Classify is checked on this many images (serializing tf.Examples is the slow part).
CLASSIFY_CHECK_IMAGES = 512
BATCH = 1024
#: Images on which a foreign ONNX file given with --onnx is compared with its normalized form.
IMPORT_CHECK_IMAGES = 1000


class VerificationError(RuntimeError):
    """A version does not compute what its sources compute, or does not have the contract's interface."""


@dataclass
class VerifyReport:
    """Every parity and contract check of one version; a version is published only when ``ok``."""

    version_dir: Path
    images: int
    parities: list[Parity] = field(default_factory=list)
    accuracy: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        out = [f"{self.version_dir}: {'OK' if self.ok else 'FAILED'} on {self.images} validation images"]
        out += [f"  {p.describe()}" for p in self.parities]
        out += [f"  accuracy ({engine}): {value:.4f}" for engine, value in self.accuracy.items()]
        out += [f"  FAILED: {failure}" for failure in self.failures]
        return out


def check_interface(version_dir: Path) -> list[str]:
    """Contract checks that need no graph: signatures, labels, warmup records, ONNX file."""
    from model_tools.export.warmup_writer import read_warmup_requests

    failures: list[str] = []
    described = describe_signatures(version_dir).get(TAG)
    if described is None:
        return [f"no MetaGraph tagged {TAG!r}"]
    predict_tensors = {SCORES_KEY: ("DT_FLOAT", [-1, NUM_CLASSES]), CLASSES_KEY: ("DT_INT64", [-1])}
    expected_classify = {
        "inputs": {CLASSIFY_INPUT_KEY: ("DT_STRING", [-1])},
        "outputs": {SCORES_KEY: ("DT_FLOAT", [-1, NUM_CLASSES]),
                    CLASSES_KEY: ("DT_STRING", [-1, NUM_CLASSES])},
    }
    wanted = {
        name: (PREDICT_METHOD, {"inputs": {INPUT_KEY: ("DT_FLOAT", [-1, NUM_PIXELS])},
                                "outputs": {key: predict_tensors[key] for key in PREDICT_OUTPUTS[name]}})
        for name in PREDICT_SIGNATURES
    }
    wanted[CLASSIFY_SIGNATURE] = (CLASSIFY_METHOD, expected_classify)
    for name, (method, sides) in wanted.items():
        signature = described.get(name)
        if signature is None:
            failures.append(f"signature {name!r} missing (has {sorted(described)})")
            continue
        if signature["method_name"] != method:
            failures.append(f"signature {name!r}: method {signature['method_name']!r}, expected {method!r}")
        for side, tensors in sides.items():
            found = {key: (info["dtype"], info["shape"]) for key, info in signature[side].items()}
            if found != tensors:
                failures.append(f"signature {name!r} {side}: {found}, expected {tensors}")
    labels_path = version_dir / LABELS_FILE
    if not labels_path.is_file():
        failures.append(f"{labels_path} missing")
    elif tuple(labels_path.read_text().splitlines()) != BYCLASS_LABELS:
        failures.append(f"{labels_path} is not the 62 ByClass labels in order")
    try:
        if not read_warmup_requests(version_dir):
            failures.append("warmup file has no records")
    except (FileNotFoundError, ValueError) as exc:
        failures.append(str(exc))
    return failures


def saved_model_scores(version_dir: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    """Scores (and classes) of every signature of a SavedModel on ``images`` (classify on the first few)."""
    import tensorflow as tf

    from model_tools.export.warmup_writer import image_example

    loaded = tf.saved_model.load(str(version_dir), tags=[TAG])
    results: dict[str, np.ndarray] = {}
    for name in PREDICT_SIGNATURES:
        function = loaded.signatures[name]
        batches = [function(**{INPUT_KEY: tf.constant(images[start:start + BATCH])})
                   for start in range(0, len(images), BATCH)]
        results[name] = np.concatenate([out[SCORES_KEY].numpy() for out in batches])
        if CLASSES_KEY in PREDICT_OUTPUTS[name]:
            results[f"{name}/classes"] = np.concatenate([out[CLASSES_KEY].numpy() for out in batches])
    subset = images[:CLASSIFY_CHECK_IMAGES]
    examples = tf.constant([image_example(row) for row in subset])
    out = loaded.signatures[CLASSIFY_SIGNATURE](**{CLASSIFY_INPUT_KEY: examples})
    results[CLASSIFY_SIGNATURE] = out[SCORES_KEY].numpy()
    results[f"{CLASSIFY_SIGNATURE}/classes"] = out[CLASSES_KEY].numpy()
    return results


def torch_scores(checkpoint_path: str | Path, images: np.ndarray) -> np.ndarray:
    """Softmax scores of a PyTorch checkpoint on ``images``."""
    from model_tools.training.checkpoint import load_checkpoint
    from model_tools.training.networks import softmax_scores

    return softmax_scores(load_checkpoint(checkpoint_path).model, images)


def verify_version(version_dir: str | Path, *, onnx_path: str | Path | None = None,
                   checkpoint_path: str | Path | None = None, images: np.ndarray | None = None,
                   labels: np.ndarray | None = None, limit: int | None = None,
                   raise_on_failure: bool = True) -> VerifyReport:
    """Check a version folder against its ONNX file (default: its own ``model.onnx``) and checkpoint."""
    version_dir = Path(version_dir)
    if not (version_dir / SAVED_MODEL_FILE).is_file():
        raise FileNotFoundError(f"{version_dir} is not a SavedModel version folder (no {SAVED_MODEL_FILE})")
    onnx_path = Path(onnx_path) if onnx_path else version_dir / ONNX_FILE
    if not onnx_path.is_file():
        raise FileNotFoundError(f"no ONNX file to verify against at {onnx_path}")
    if images is None:
        images, labels = validation_inputs(limit)
    report = VerifyReport(version_dir, len(images))
    report.failures += check_interface(version_dir)

    tf_results = saved_model_scores(version_dir, images)
    onnx_model = onnx_path
    if onnx_path.resolve() != (version_dir / ONNX_FILE).resolve():
        # Any ONNX file, even one onnxruntime cannot run (old opsets), after the same normalization as
        # `convert`, itself checked against the original graph.
        imported = import_onnx_classifier(onnx_path, check_images=images[:IMPORT_CHECK_IMAGES])
        onnx_model = imported.model
        if imported.parity is not None:
            report.parities.append(imported.parity)
    reference = onnxruntime_scores(onnx_model, images)
    sources = [("ONNX (onnxruntime)", reference)]
    if checkpoint_path is not None:
        sources.append(("PyTorch checkpoint", torch_scores(checkpoint_path, images)))
    for source_name, source_scores in sources:
        for name in PREDICT_SIGNATURES:
            report.parities.append(compare_scores(source_scores, tf_results[name], reference_name=source_name,
                                                  candidate_name=f"SavedModel {name}"))
        n = len(tf_results[CLASSIFY_SIGNATURE])
        report.parities.append(compare_scores(source_scores[:n], tf_results[CLASSIFY_SIGNATURE],
                                              reference_name=source_name,
                                              candidate_name=f"SavedModel {CLASSIFY_SIGNATURE}"))
    report.failures += [f"parity: {p.describe()}" for p in report.parities if not p.ok]

    for name in PREDICT_SIGNATURES:
        if CLASSES_KEY not in PREDICT_OUTPUTS[name]:
            continue
        if not np.array_equal(tf_results[f"{name}/classes"], tf_results[name].argmax(axis=1)):
            report.failures.append(f"{name}: 'classes' is not the argmax of 'scores'")
    classify_classes = tf_results[f"{CLASSIFY_SIGNATURE}/classes"]
    expected_row = np.array([label.encode() for label in BYCLASS_LABELS], dtype=object)
    if classify_classes.shape[1:] != (NUM_CLASSES,) or not all(
            np.array_equal(row, expected_row) for row in classify_classes):
        report.failures.append("classify: 'classes' rows are not the 62 ByClass labels")

    if labels is not None:
        report.accuracy["SavedModel"] = float(np.mean(tf_results[PREDICT_SIGNATURES[0]].argmax(1) == labels))
        report.accuracy["ONNX"] = float(np.mean(reference.argmax(1) == labels))
    for line in report.lines():
        log.debug("%s", line)
    if raise_on_failure and not report.ok:
        raise VerificationError("\n".join(report.lines()))
    return report


def _verify_command(args: argparse.Namespace) -> int:
    report = verify_version(args.version_dir, onnx_path=args.onnx, checkpoint_path=args.checkpoint,
                            limit=args.limit, raise_on_failure=False)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify", help="check a SavedModel version against its ONNX file (and checkpoint) on real images",
        description="Parity (max |diff| <= 1e-5, identical argmax) of every signature against onnxruntime "
                    "and PyTorch on the validation images, plus the signature/labels/warmup contract.")
    parser.add_argument("version_dir", help="models/<name>/<version> folder")
    parser.add_argument("--onnx", default=None, help="ONNX file to compare with (default: its model.onnx)")
    parser.add_argument("--checkpoint", default=None, help="PyTorch checkpoint to compare with too")
    parser.add_argument("--limit", type=int, default=None, help="first N validation images only")
    parser.set_defaults(func=_verify_command)
