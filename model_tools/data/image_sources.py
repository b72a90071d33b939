"""Labelled images from any source the loaders read, with ByClass labels: what ``evaluate`` scores.

A shipped split, a NIST idx images file (its labels file and mapping beside it), a NIST
``emnist-<split>.mat`` or an ``.npz`` holding ``images`` and ByClass ``labels``. NIST's other splits
number their classes their own way; their labels are translated to ByClass through the split's mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emnist_contract.labels import NUM_CLASSES, char_to_label
from emnist_contract.tensors import IMAGE_SIZE
from model_tools.data import emnist_io
from model_tools.data.datasets import load_split


@dataclass
class LabelledImages:
    """Images to score: uint8 [N, 28, 28] upright, ByClass labels, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    description: str


_IDX_NAME = re.compile(
    r"emnist-(?P<split>[a-z]+)-(?P<part>train|test)-(images-idx3|labels-idx1)-ubyte(\.gz)?$"
)


def to_byclass(labels: np.ndarray, mapping: dict[int, str], source: str) -> np.ndarray:
    """Translate a split's own label numbers to ByClass indices through its mapping's characters.

    'letters' maps a label to both cases ("Aa") and bymerge/balanced merge look-alike cases under one
    character: those images get the first character's class, so for them the case-insensitive accuracy
    is the meaningful one.
    """
    lookup = {label: char_to_label(chars[0]) for label, chars in mapping.items() if chars}
    try:
        return np.array([lookup[int(label)] for label in labels], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"{source}: label {exc.args[0]} is not in the split's mapping") from None


def _load_npz(path: Path) -> LabelledImages:
    try:
        with np.load(path) as content:
            if "images" not in content or "labels" not in content:
                raise ValueError(f"{path}: an .npz needs 'images' and 'labels' arrays "
                                 f"(found {', '.join(content.files) or 'none'})")
            images, labels = content["images"], content["labels"].astype(np.int64)
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable .npz file: {exc}") from None
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or len(images) != len(labels):
        raise ValueError(f"{path}: expected images [N, {IMAGE_SIZE}, {IMAGE_SIZE}] and N labels, got "
                         f"{images.shape} and {labels.shape}")
    if labels.size and not 0 <= labels.min() <= labels.max() < NUM_CLASSES:
        raise ValueError(f"{path}: labels must be ByClass indices 0-{NUM_CLASSES - 1}")
    return LabelledImages(images.astype(np.uint8), labels, str(path))


def load_images(split: str = "validation", data: str | Path | None = None, part: str = "test",
                data_dir: str | Path | None = None) -> LabelledImages:
    """A shipped split, or any file the loaders read: a NIST idx images file (its labels file and
    mapping beside it), a NIST ``emnist-<split>.mat`` (``part`` train/test), or an ``.npz`` with
    ``images`` uint8 [N, 28, 28] upright and ByClass ``labels``."""
    if data is None:
        images, labels = load_split(split, data_dir)
        return LabelledImages(images, labels, f"shipped {split} split")
    path = Path(data)
    if not path.exists():
        raise FileNotFoundError(f"no data at {path}")
    if path.suffix == ".npz":
        return _load_npz(path)
    if path.suffix == ".mat":
        loaded = emnist_io.load_mat_split(path, part)
        return LabelledImages(loaded.images, to_byclass(loaded.labels, loaded.mapping, str(path)),
                              f"{path} ({part})")
    match = _IDX_NAME.match(path.name)
    if match:
        loaded = emnist_io.load_idx_split(path.parent, match["split"], match["part"])
        return LabelledImages(loaded.images, to_byclass(loaded.labels, loaded.mapping, str(path)),
                              f"{path.parent}/emnist-{match['split']}-{match['part']}")
    raise ValueError(f"{path}: unknown data file; expected a NIST idx file named "
                     "emnist-<split>-<train|test>-images-idx3-ubyte[.gz], a NIST emnist-<split>.mat "
                     "or an .npz")
