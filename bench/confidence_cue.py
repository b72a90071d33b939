"""How often answers are right on each side of the confidence cue's thresholds (docs/serving-api.md).

``python bench/confidence_cue.py [--model emnist] [--quick]``: the shipped validation split through
onnxruntime straight on the version's ``model.onnx`` (no server), the cue of ``serving_core.confidence``
on every answer, and a Markdown table: the share of answers marked confident / uncertain (low score,
close runner-up) and how many of each are right, exactly and up to case. ``--quick``: 500 images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS
from emnist_contract.layout import ONNX_FILE
from emnist_contract.tensors import NUM_PIXELS, pixels_to_unit
from serving_core.confidence import (
    CLOSE_MARGIN,
    CLOSE_RUNNER_UP_REASON,
    LOW_PROBABILITY,
    LOW_PROBABILITY_REASON,
    confidence,
)

REPO = Path(__file__).resolve().parent.parent


def version_dir(model: str) -> Path:
    versions = [p for p in (REPO / "models" / model).iterdir() if p.name.isdigit()]
    return max(versions, key=lambda p: int(p.name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="emnist")
    parser.add_argument("--quick", action="store_true", help="the first 500 validation images")
    args = parser.parse_args()
    import onnxruntime

    with np.load(REPO / "data" / "validation.npz") as data:
        images, labels = data["images"], data["labels"]
    if args.quick:
        images, labels = images[:500], labels[:500]
    folder = version_dir(args.model)
    session = onnxruntime.InferenceSession(str(folder / ONNX_FILE), providers=["CPUExecutionProvider"])
    inputs = pixels_to_unit(images.reshape(-1, NUM_PIXELS))
    scores = session.run(None, {session.get_inputs()[0].name: inputs})[0]
    answers = scores.argmax(axis=1)
    right = answers == labels
    right_any_case = np.array([BYCLASS_LABELS[a].lower() == BYCLASS_LABELS[t].lower()
                               for a, t in zip(answers, labels, strict=True)])
    reasons = np.array([confidence(row).reason for row in scores])
    print(f"{args.model} version {folder.name}, {len(labels)} validation images; uncertain below "
          f"{LOW_PROBABILITY:.0%} or less than {CLOSE_MARGIN * 100:.0f} points ahead of the runner-up\n")
    print("| answers | share | right | right up to case |")
    print("|---|---|---|---|")
    groups = {"confident": reasons == "", "uncertain: low score": reasons == LOW_PROBABILITY_REASON,
              "uncertain: close runner-up": reasons == CLOSE_RUNNER_UP_REASON,
              "all": np.ones(len(labels), bool)}
    for name, chosen in groups.items():
        if not chosen.any():
            print(f"| {name} | 0 % | - | - |")
            continue
        shares = (chosen.mean(), right[chosen].mean(), right_any_case[chosen].mean())
        print(f"| {name} | " + " | ".join(f"{share:.1%}" for share in shares) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
