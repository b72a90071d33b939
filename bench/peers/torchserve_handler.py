"""TorchServe's custom handler for the ONNX model (TorchServe's documentation serves ONNX models through a
handler that opens an onnxruntime session). Packed by ``torch-model-archiver`` with ``onnx_model.py``.

TorchServe hands the handler a batch of requests (its server-side batching); each request's body is TF
Serving's ``{"instances": [[784 floats], ...]}`` and each answer ``{"predictions": [N,62]}``.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np


class EmnistOnnxHandler:
    def __init__(self) -> None:
        self.model = None

    def initialize(self, context) -> None:
        model_dir = context.system_properties["model_dir"]
        sys.path.insert(0, model_dir)
        from onnx_model import OnnxModel

        self.model = OnnxModel(os.path.join(model_dir, context.manifest["model"]["serializedFile"]))

    def handle(self, data: list[dict], context) -> list[dict]:
        batches = []
        for request in data:
            body = request.get("body") if request.get("body") is not None else request.get("data")
            if isinstance(body, (bytes, bytearray)):
                body = json.loads(body)
            batches.append(np.asarray(body["instances"], dtype=np.float32).reshape(-1, 784))
        scores = self.model.predict(np.concatenate(batches))
        parts = np.split(scores, np.cumsum([len(b) for b in batches])[:-1])
        return [{"predictions": part.tolist()} for part in parts]


_service = EmnistOnnxHandler()


def handle(data, context):
    """TorchServe's module-level entry point: initialize once, then answer each batch."""
    if _service.model is None:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
