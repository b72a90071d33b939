"""LitServe's server for the ONNX model, as LitServe's documentation scales one on CPU: ``workers_per_device``
one per core, server-side batching (``max_batch_size``, ``batch_timeout``) and the ZeroMQ ``fast_queue``.

``python litserve_server.py PORT WORKERS`` in LitServe's virtual environment. The request is TF Serving's
``{"instances": [[784 floats], ...]}`` (any number of images), the answer ``{"predictions": [N,62]}``.
"""

from __future__ import annotations

import sys

import litserve as ls
import numpy as np
from onnx_model import OnnxModel


class EmnistAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.model = OnnxModel()

    def decode_request(self, request: dict) -> np.ndarray:
        return np.asarray(request["instances"], dtype=np.float32).reshape(-1, 784)

    def batch(self, inputs: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
        # LitServe's default stacks one item per request; a request here holds any number of images.
        return np.concatenate(inputs), [len(x) for x in inputs]

    def predict(self, batch: np.ndarray | tuple[np.ndarray, list[int]]) -> object:
        if isinstance(batch, tuple):
            images, sizes = batch
            return self.model.predict(images), sizes
        return self.model.predict(batch)

    def unbatch(self, output: tuple[np.ndarray, list[int]]) -> list[np.ndarray]:
        scores, sizes = output
        return np.split(scores, np.cumsum(sizes)[:-1])

    def encode_response(self, scores: np.ndarray) -> dict:
        return {"predictions": scores.tolist()}


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    api = EmnistAPI(max_batch_size=8, batch_timeout=0.001)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=workers, fast_queue=True)
    server.run(host="127.0.0.1", port=port, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
