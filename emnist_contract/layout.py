"""A model version folder, TensorFlow Serving's layout: ``<base_path>/<model>/<version>/`` and what it holds.

A version is a folder whose name is a decimal number; anything else under the model's folder (a
dot-prefixed staging folder such as ``.tmp-2-x1y2``) is not a version, so a converter builds a version
beside the served ones and renames it into place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from emnist_contract.labels import NUM_CLASSES

SAVED_MODEL_FILE = "saved_model.pb"
FINGERPRINT_FILE = "fingerprint.pb"
VARIABLES_DIR = "variables"
#: Inside VARIABLES_DIR: the variables' index, and the prefix of their data shards
#: (``variables.data-00000-of-00001``).
VARIABLES_INDEX = "variables.index"
VARIABLES_DATA = "variables.data"
ASSETS_DIR = "assets"
ASSETS_EXTRA_DIR = "assets.extra"
#: The 62 class labels, one per line in ByClass order (what the classify signature's ``classes`` read).
LABELS_FILE = Path(ASSETS_DIR) / "labels.txt"
#: TF Serving's warmup requests: a TFRecord file of ``tensorflow.serving.PredictionLog`` protos.
WARMUP_FILE = Path(ASSETS_EXTRA_DIR) / "tf_serving_warmup_requests"
#: What the exporter knows about the model that its graph does not say, as a JSON object. TF Serving
#: ignores unknown files in assets.extra, so the folder stays a valid TF Serving version. An absent file
#: (older versions) means nothing is known: every class counts as learned.
MODEL_INFO_FILE = Path(ASSETS_EXTRA_DIR) / "model_info.json"
#: The model-info key listing the classes the model never saw a training image of (labels, ByClass order):
#: the model cannot answer them, whatever its scores say.
UNTRAINED_CLASSES_KEY = "classes_without_training_images"
#: The metadata field (GetModelMetadata's ``metadata_field``, REST ``?metadata_field=``) under which this
#: project's servers answer a version's model info, beside TF Serving's ``signature_def``.
MODEL_INFO_FIELD = "model_info"
#: The same network as ONNX (the onnxruntime engine's file).
ONNX_FILE = "model.onnx"
#: Everything a version folder may hold.
VERSION_ENTRIES = frozenset(
    {SAVED_MODEL_FILE, FINGERPRINT_FILE, VARIABLES_DIR, ASSETS_DIR, ASSETS_EXTRA_DIR, ONNX_FILE}
)


def is_version_name(name: str) -> bool:
    """True for a version folder's name: ASCII decimal digits only."""
    return name.isascii() and name.isdigit()


def parse_labels(text: str, where: str = LABELS_FILE.as_posix()) -> tuple[str, ...]:
    """The labels of a labels file's text; ValueError unless there are exactly 62."""
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(labels) != NUM_CLASSES:
        raise ValueError(f"{where}: expected {NUM_CLASSES} labels, found {len(labels)}")
    return labels


def _checked_classes(classes: Iterable[object], labels: Sequence[str], where: str) -> tuple[str, ...]:
    """``classes`` as labels of ``labels`` in their order; ValueError for a non-label or a repeat."""
    listed = list(classes)
    for item in listed:
        if not isinstance(item, str) or item not in labels:
            raise ValueError(f"{where}: {UNTRAINED_CLASSES_KEY} holds {item!r}, not one of the labels")
    if len(set(listed)) != len(listed):
        raise ValueError(f"{where}: {UNTRAINED_CLASSES_KEY} lists a class twice")
    return tuple(label for label in labels if label in set(listed))


def model_info_text(untrained_classes: Iterable[str], labels: Sequence[str], **extra: object) -> str:
    """The model-info file's text: the untrained classes (checked against ``labels``) and ``extra`` keys."""
    classes = _checked_classes(untrained_classes, labels, MODEL_INFO_FILE.as_posix())
    return json.dumps({UNTRAINED_CLASSES_KEY: list(classes), **extra}, indent=2, ensure_ascii=False) + "\n"


def parse_model_info(
    text: str, labels: Sequence[str], where: str = MODEL_INFO_FILE.as_posix()
) -> tuple[str, ...]:
    """The untrained classes of a model-info file's text, in ``labels``' order; ValueError when malformed.

    Keys other than the untrained classes are allowed (readers skip what they do not know).
    """
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{where}: expected a JSON object")
    classes = document.get(UNTRAINED_CLASSES_KEY, [])
    if not isinstance(classes, list):
        raise ValueError(f"{where}: {UNTRAINED_CLASSES_KEY} must be a list of labels")
    return _checked_classes(classes, labels, where)
