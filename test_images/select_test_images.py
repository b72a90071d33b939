"""Write one validation PNG per class that the given model reads correctly.

    .venv/bin/python -m test_images.select_test_images [--model models/emnist/3] [--per-class 1]

File names say the label, case-safe on case-insensitive file systems: ``A_upper_0.png``,
``a_lower_0.png``, ``7_digit_0.png``. Each image is a real EMNIST validation image where the class has
real images; the classes no real image here shows (J Q X Y Z j q x y z) get a character drawn from a
held-out font (the ``synthetic`` split: a font the model never trained on). A class the model knows but
never reads exactly with confidence (for version 4 lowercase c, m, o, p, s and u: it mostly answers their
uppercase twins, see docs/training.md on class weights, logit adjustment and class offsets) gets one image
in ``test_images/case_twins/`` that the model reads as the other case of the same letter, so the tests can
pin that behaviour too. The images are
unchanged 28x28 pixels (upright, white ink on black).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from emnist_contract.labels import BYCLASS_LABELS, class_group
from emnist_contract.layout import ONNX_FILE
from model_tools.data.datasets import load_split, to_model_input
from model_tools.export.model_forms import OnnxPredictor

REPO = Path(__file__).resolve().parent.parent

GROUP_SUFFIX = {"digit": "digit", "uppercase": "upper", "lowercase": "lower"}
log = logging.getLogger("select_test_images")


def file_name(class_id: int, index: int) -> str:
    return f"{BYCLASS_LABELS[class_id]}_{GROUP_SUFFIX[class_group(class_id)]}_{index}.png"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    versions = [p for p in (REPO / "models" / "emnist").iterdir() if p.name.isdigit()]
    newest = max(versions, key=lambda p: int(p.name))
    parser.add_argument("--model", type=Path, default=newest,
                        help=f"version folder (default: {newest.name}, the newest)")
    parser.add_argument("--per-class", type=int, default=1)
    parser.add_argument("--min-probability", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=REPO / "test_images")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    real_images, real_labels = load_split("validation")
    drawn_images, drawn_labels = load_split("synthetic")
    # Real images wherever a class has them; drawn ones (held-out fonts) only for the classes without.
    drawn = ~np.isin(drawn_labels, real_labels)
    images = np.concatenate([real_images, drawn_images[drawn]])
    labels = np.concatenate([real_labels, drawn_labels[drawn]])
    scores = OnnxPredictor(args.model / ONNX_FILE).predict(to_model_input(images))  # the served scores
    twins_dir = args.out / "case_twins"
    twins_dir.mkdir(exist_ok=True)
    for old in [*args.out.glob("*_*_*.png"), *twins_dir.glob("*_*_*.png")]:
        old.unlink()
    predicted = scores.argmax(axis=1)
    written, missing = 0, []
    for class_id in range(len(BYCLASS_LABELS)):
        good = np.flatnonzero(
            (labels == class_id)
            & (scores.argmax(axis=1) == class_id)
            & (scores[:, class_id] >= args.min_probability)
        )
        if not len(good):
            char = BYCLASS_LABELS[class_id]
            twin = BYCLASS_LABELS.index(char.swapcase()) if char.isalpha() else None
            read_as_twin = np.flatnonzero((labels == class_id) & (predicted == twin)) if twin else []
            if len(read_as_twin):
                row = read_as_twin[0]
                Image.fromarray(images[row], mode="L").save(twins_dir / file_name(class_id, 0))
            missing.append(char)
            continue
        for index, row in enumerate(good[: args.per_class]):
            Image.fromarray(images[row], mode="L").save(args.out / file_name(class_id, index))
            written += 1
    log.info("wrote %d PNGs to %s; no correctly read validation image for: %s", written, args.out,
             " ".join(missing) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
