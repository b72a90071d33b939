"""TensorFlow Serving's REST API with ``requests``: ``POST /v1/models/emnist:predict``, row format.

Run against ``make run``: ``python examples/tf_serving_rest.py`` (``--url`` or ``MODEL_SERVER_URL`` for
another server). Needs ``requests`` (``pip install -c requirements.txt requests``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import requests

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

    try:
        response = requests.post(f"{args.url}/v1/models/{args.model}:predict",
                                 json={"instances": x.tolist()}, timeout=30)
    except requests.ConnectionError:
        sys.exit(f"no model server answers at {args.url}: start one with `make run`")
    if not response.ok:
        sys.exit(f"{response.status_code}: {response.text}")
    scores = np.asarray(response.json()["predictions"])
    for index, (want, row) in enumerate(zip(expected, scores, strict=True)):
        print(f"image {index}: expected {BYCLASS_LABELS[want]}, answered {BYCLASS_LABELS[row.argmax()]} "
              f"({row.max():.2f})")


if __name__ == "__main__":
    main()
