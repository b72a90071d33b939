"""The one model every peer serves: the served version's ``model.onnx`` in an onnxruntime session opened as
this project's onnxruntime engine opens it (one intra-op thread, sequential), so engine speed is equal.

Imported by the peers' serving code in their own virtual environments (onnxruntime and numpy only);
``EMNIST_PEER_MODEL`` names the file.
"""

from __future__ import annotations

import os

import numpy as np

MODEL_ENV = "EMNIST_PEER_MODEL"
NUM_PIXELS = 784


class OnnxModel:
    """``images`` float32 [N,784] -> ``scores`` float32 [N,62]."""

    def __init__(self, path: str | None = None) -> None:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(path or os.environ[MODEL_ENV], options,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._outputs = [self._session.get_outputs()[0].name]

    def predict(self, images: np.ndarray) -> np.ndarray:
        batch = np.asarray(images, dtype=np.float32).reshape(-1, NUM_PIXELS)
        return self._session.run(self._outputs, {self._input: batch})[0]
