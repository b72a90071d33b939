"""BentoML's service for the ONNX model, as BentoML 1.4's documentation sets one up for throughput: a
``@bentoml.service`` class with one worker per core and an adaptive-batching ``@bentoml.api``.

Served with ``bentoml serve bentoml_service:EmnistOnnx`` from this folder in BentoML's virtual environment;
``EMNIST_PEER_WORKERS`` is the worker count. The request is ``{"images": [[784 floats], ...]}``, the answer
the scores as a JSON array [N,62].
"""

from __future__ import annotations

import os

import bentoml
import numpy as np
from onnx_model import OnnxModel


@bentoml.service(workers=int(os.environ.get("EMNIST_PEER_WORKERS", "1")), traffic={"timeout": 60})
class EmnistOnnx:
    def __init__(self) -> None:
        self.model = OnnxModel()

    # Batches are counted in images (rows): room for 8 requests of 128. max_latency_ms stays at its default
    # (60 s): the dispatcher answers 503 to requests it expects to miss it, which a lower bound makes
    # happen for batch-128 requests on a busy machine.
    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=1024)
    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.model.predict(images)
