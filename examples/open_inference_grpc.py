"""The Open Inference Protocol (KServe V2) over gRPC with Triton's client, ``tritonclient.grpc``: the
``GRPCInferenceService`` on the model server's gRPC port, beside TensorFlow Serving's services.

Run against ``make run``: ``python examples/open_inference_grpc.py`` (``--target`` or
``MODEL_SERVER_GRPC`` for another server). Needs ``tritonclient``:
``pip install -c requirements.txt 'tritonclient[http]'`` (its ``[grpc]`` extra pins a protobuf < 7;
``tritonclient.grpc`` runs on the one this project pins).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from emnist_contract.labels import BYCLASS_LABELS

VALIDATION = Path(__file__).resolve().parents[1] / "data" / "validation.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=os.environ.get("MODEL_SERVER_GRPC", "127.0.0.1:8500"))
    parser.add_argument("--model", default="emnist")
    parser.add_argument("--count", type=int, default=8, help="validation images to send")
    args = parser.parse_args()

    # x: float32 [N, 784], pixels/255, upright, white ink on black (EMNIST's own images are already so).
    validation = np.load(VALIDATION)
    x = validation["images"][: args.count].reshape(args.count, 784).astype(np.float32) / 255
    expected = validation["labels"][: args.count]

    client = grpcclient.InferenceServerClient(args.target)
    try:
        if not client.is_model_ready(args.model):
            sys.exit(f"model {args.model} is not ready")
        images = grpcclient.InferInput("images", list(x.shape), "FP32")
        images.set_data_from_numpy(x)
        scores = client.infer(args.model, [images], client_timeout=30).as_numpy("scores")
    except InferenceServerException as error:
        sys.exit(str(error))
    finally:
        client.close()
    for index, (want, row) in enumerate(zip(expected, scores, strict=True)):
        print(f"image {index}: expected {BYCLASS_LABELS[want]}, answered {BYCLASS_LABELS[row.argmax()]} "
              f"({row.max():.2f})")


if __name__ == "__main__":
    main()
