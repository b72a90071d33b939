"""The app's own ``POST /predict`` with an image file (a PNG, JPEG, ... of a character, any size or
polarity: the server prepares it as NIST prepared EMNIST): label, probability and the top k.

Run against ``make run``: ``python examples/predict_file.py [image files]`` (default: a few of
``test_images/``; ``--url`` or ``MODEL_SERVER_URL`` for another server). Needs ``requests``
(``pip install -c requirements.txt requests``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import requests

TEST_IMAGES = Path(__file__).resolve().parents[1] / "test_images"
DEFAULT_FILES = [TEST_IMAGES / name for name in ("7_digit_0.png", "A_upper_0.png", "g_lower_0.png")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    parser.add_argument("--url", default=os.environ.get("MODEL_SERVER_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()

    for path in args.files:
        try:
            with path.open("rb") as image:
                response = requests.post(f"{args.url}/predict", params={"top_k": args.top_k},
                                         files={"image": (path.name, image)}, timeout=30)
        except requests.ConnectionError:
            sys.exit(f"no model server answers at {args.url}: start one with `make run`")
        if not response.ok:
            sys.exit(f"{path}: {response.status_code}: {response.text}")
        answer = response.json()["results"][0]
        others = ", ".join(f"{guess['label']} {guess['probability']:.2f}" for guess in answer["top_k"])
        print(f"{path.name}: {answer['label']} ({answer['probability']:.2f}); top {args.top_k}: {others}")


if __name__ == "__main__":
    main()
