"""The Open Inference Protocol (KServe V2) over REST with Triton's client, ``tritonclient.http``:
readiness, model metadata, then ``infer`` with the binary tensor extension.

Run against ``make run``: ``python examples/open_inference_http.py`` (``--url`` or ``MODEL_SERVER_URL``
for another server). Needs ``tritonclient[http]``: ``pip install -c requirements.txt 'tritonclient[http]'``
(the ``client`` extra has it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from emnist_contract.labels import BYCLASS_LABELS

VALIDATION = Path(__file__).resolve().parents[1] / "data" / "validation.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("MODEL_SERVER_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--model", default="emnist")
    parser.add_argument("--count", type=int, default=8, help="validation images to send")
    args = parser.parse_args()

    # x: float32 [N, 784], pixels/255, upright, white ink on black (EMNIST's own images are already so).
    validation = np.load(VALIDATION)
    x = validation["images"][: args.count].reshape(args.count, 784).astype(np.float32) / 255
    expected = validation["labels"][: args.count]

    client = httpclient.InferenceServerClient(urlsplit(args.url).netloc)  # host:port, no scheme
    try:
        if not client.is_model_ready(args.model):
            sys.exit(f"model {args.model} is not ready")
        metadata = client.get_model_metadata(args.model)
        print(f"model {metadata['name']} versions {metadata['versions']}, input {metadata['inputs'][0]}")
        images = httpclient.InferInput("images", list(x.shape), "FP32")
        images.set_data_from_numpy(x)  # binary_data=True: the binary tensor extension
        scores = client.infer(args.model, [images]).as_numpy("scores")
    except InferenceServerException as error:
        sys.exit(str(error))
    except ConnectionRefusedError:
        sys.exit(f"no model server answers at {args.url}: start one with `make run`")
    finally:
        client.close()
    for index, (want, row) in enumerate(zip(expected, scores, strict=True)):
        print(f"image {index}: expected {BYCLASS_LABELS[want]}, answered {BYCLASS_LABELS[row.argmax()]} "
              f"({row.max():.2f})")


if __name__ == "__main__":
    main()
