"""GraphPipe's official Python client, ``graphpipe.remote``: metadata, then ``execute`` on
``/graphpipe/emnist`` of the REST port.

Run against ``make run``: ``python examples/graphpipe_client.py`` (``--url`` or ``MODEL_SERVER_URL`` for
another server). Needs ``graphpipe`` and ``requests``: ``pip install --no-deps -r requirements-nodeps.txt``
(graphpipe 1.0.4 pins flatbuffers 1.9 and requests 2.18, stale pins it runs without) and
``pip install -c requirements.txt requests``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import requests
from graphpipe import remote

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

    url = f"{args.url}/graphpipe/{args.model}"
    try:
        print(remote.metadata(url).Description().decode())
        scores = remote.execute(url, x)
    except requests.HTTPError as error:
        sys.exit(f"{error.response.status_code}: {error}")
    except requests.ConnectionError:
        sys.exit(f"no model server answers at {args.url}: start one with `make run`")
    for index, (want, row) in enumerate(zip(expected, scores, strict=True)):
        print(f"image {index}: expected {BYCLASS_LABELS[want]}, answered {BYCLASS_LABELS[row.argmax()]} "
              f"({row.max():.2f})")


if __name__ == "__main__":
    main()
