"""A model version folder, TensorFlow Serving's layout: ``<base_path>/<model>/<version>/`` and what it holds.

A version is a folder whose name is a decimal number; anything else under the model's folder (a
dot-prefixed staging folder such as ``.tmp-2-x1y2``) is not a version, so a converter builds a version
beside the served ones and renames it into place.
"""

from __future__ import annotations

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
