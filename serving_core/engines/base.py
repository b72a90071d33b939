"""What every engine is: batches of images in, the default signature's scores out, and its signatures.

Everything a version needs to answer requests (its labels, the classes it cannot answer and its
signature definitions) is read when the engine opens, so a version that became AVAILABLE never reads its
folder again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract import layout
from emnist_contract.labels import BYCLASS_LABELS
from emnist_contract.tensors import NUM_PIXELS

#: What to do when the tensorflow engine is asked for without TensorFlow.
NO_TENSORFLOW = ("the tensorflow engine needs TensorFlow, which is not installed: install the serve-tf extra "
                 "(pip install -c requirements.txt '.[serve-tf]') or serve with the onnxruntime engine")


class EngineError(RuntimeError):
    """A model version that cannot be opened or does not follow the serving contract."""


class SignatureError(ValueError):
    """A request for a signature the model does not have, or with inputs it does not take."""


def read_labels(version_dir: Path) -> tuple[str, ...]:
    """The 62 class labels from ``assets/labels.txt``, or the ByClass order when the file is absent."""
    path = version_dir / layout.LABELS_FILE
    if not path.is_file():
        return BYCLASS_LABELS
    try:
        return layout.parse_labels(path.read_text(encoding="utf-8"), str(path))
    except ValueError as exc:
        raise EngineError(str(exc)) from None


def read_untrained_classes(version_dir: Path, labels: tuple[str, ...]) -> tuple[str, ...]:
    """The classes the version never trained on (``assets.extra/model_info.json``); none when absent."""
    path = version_dir / layout.MODEL_INFO_FILE
    if not path.is_file():
        return ()
    try:
        return layout.parse_model_info(path.read_text(encoding="utf-8"), labels, str(path))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EngineError(str(exc)) from None


def check_images(images: np.ndarray) -> np.ndarray:
    """A C-contiguous float32 [N,784] view of ``images`` (copying only when needed)."""
    array = np.ascontiguousarray(images, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != NUM_PIXELS:
        raise ValueError(f"expected images of shape [N, {NUM_PIXELS}], got {list(array.shape)}")
    return array


class Engine(ABC):
    """Batches float32 [N,784] (upright pixels/255, ink high) -> softmax scores float32 [N,62]."""

    kind: str

    def __init__(self, version_dir: Path) -> None:
        self.version_dir = Path(version_dir)
        self.labels = read_labels(self.version_dir)
        #: Labels of the classes the model cannot answer (no training images), in the labels' order.
        self.untrained_classes = read_untrained_classes(self.version_dir, self.labels)
        #: ``{"signature_def": {...}}`` exactly as TF Serving prints a model's metadata.
        self.signature_defs: dict[str, Any] = {}

    @abstractmethod
    def predict(self, images: np.ndarray) -> np.ndarray:
        """Scores of the default serving signature; safe to call from several threads at once."""

    @abstractmethod
    def run_signature(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a named signature on named input arrays, answering its named outputs."""

    def close(self) -> None:  # noqa: B027 - engines without native resources need nothing here
        """Release the model (the manager calls it once no request uses this version any more)."""

    def signature(self, signature_name: str) -> dict[str, Any]:
        """One SignatureDef as JSON (SignatureError when the model has no such signature)."""
        signatures = self.signature_defs["signature_def"]
        if signature_name not in signatures or signature_name.startswith("__"):
            raise SignatureError(f'Serving signature name: "{signature_name}" not found in signature def')
        return signatures[signature_name]

    def signature_inputs(self, signature_name: str) -> dict[str, dict[str, Any]]:
        """Input name -> TensorInfo dict of a signature."""
        return self.signature(signature_name)["inputs"]

    def signature_outputs(self, signature_name: str) -> list[str]:
        """Output names of a signature, sorted as TF Serving's output map iterates them."""
        return sorted(self.signature(signature_name)["outputs"])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.version_dir}>"
