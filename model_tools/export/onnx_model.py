"""What every ONNX file of the pipeline shares: its interface, how it runs in onnxruntime, its metadata.

The contract's face for ONNX: one input ``images`` float32 [batch, 784] and one output ``scores`` float32
[batch, 62] (softmax), the batch dimension symbolic, metadata saying where the file came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.signatures import INPUT_KEY, SCORES_KEY
from emnist_contract.tensors import IMAGE_SIZE, NUM_PIXELS, PIXEL_MAX
from model_tools.common.atomic_io import write_bytes_atomic

if TYPE_CHECKING:
    import onnx

#: Name of the symbolic batch dimension of the input and the output.
BATCH_DIM = "batch"
#: The input scaling, as recorded in every model's metadata.
PREPROCESSING = (f"upright {IMAGE_SIZE}x{IMAGE_SIZE} greyscale, ink high, pixels/{PIXEL_MAX:g}, flattened "
                 f"row-major to {NUM_PIXELS} floats")


class ModelRefusedError(ValueError):
    """The ONNX file is not a model this project can serve (not a 784 -> 62 classifier, unreadable...)."""


def onnxruntime_scores(model: onnx.ModelProto | str | Path, images: np.ndarray,
                       batch_size: int = 1024) -> np.ndarray:
    """Run a normalized model (``images`` -> ``scores``) in onnxruntime, batch by batch."""
    import onnxruntime as ort

    source = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    outputs = [session.run([SCORES_KEY], {INPUT_KEY: images[i:i + batch_size]})[0]
               for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs) if outputs else np.zeros((0, NUM_CLASSES), np.float32)


def read_metadata(model: onnx.ModelProto) -> dict[str, str]:
    """The model's metadata_props as a dict."""
    return {prop.key: prop.value for prop in model.metadata_props}


def set_metadata(model: onnx.ModelProto, values: dict[str, Any]) -> None:
    """Add or replace metadata_props (non-strings are stored as JSON)."""
    current = read_metadata(model)
    current.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()})
    del model.metadata_props[:]
    for key, value in current.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def save_atomically(model: onnx.ModelProto, path: Path) -> None:
    """Write next to the target, then rename, so nobody ever reads half a file."""
    write_bytes_atomic(path, model.SerializeToString())
