"""NIST's full EMNIST files as training data, holding one uint8 copy of the images.

``train --data`` accepts the folder ``download`` writes (``emnist-<split>-train-*-ubyte[.gz]`` and the
mapping), one idx images file, or a NIST ``emnist-<split>.mat``. idx images are streamed straight
from the (gzip) file into one buffer and returned as an upright view of it (NIST stores them
transposed); ``.mat`` rows become an upright view too. Nothing is converted to float here: the
training loop scales only the rows of each batch. Labels come back in ByClass numbering.
"""

from __future__ import annotations

import gzip
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emnist_contract.tensors import IMAGE_SIZE
from model_tools.data import emnist_io
from model_tools.data.image_sources import to_byclass

IDX_IMAGES = re.compile(r"emnist-(?P<split>[a-z]+)-(?P<part>train|test)-images-idx3-ubyte(\.gz)?$")
READ_CHUNK = 1 << 20  # gzip reads through a temporary of this size


@dataclass
class NistImages:
    """Upright uint8 [N, 28, 28] images (a view of one buffer), ByClass labels int64 [N], their source."""

    images: np.ndarray
    labels: np.ndarray
    source: str


def _open(path: Path):  # noqa: ANN202 - a binary file object, gzip or plain
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115 - closed by the caller


def stream_idx_images(path: str | Path) -> np.ndarray:
    """An idx3 uint8 images file -> upright view [N, 28, 28] of ONE buffer filled from the stream."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such idx images file")
    with _open(path) as stream:
        header = stream.read(16)
        if len(header) < 16 or header[:4] != b"\x00\x00\x08\x03":
            raise ValueError(f"{path}: not an idx3 uint8 images file (magic {header[:4].hex() or 'none'})")
        count, rows, cols = struct.unpack(">III", header[4:])
        if (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"{path}: images are {rows}x{cols}, expected {IMAGE_SIZE}x{IMAGE_SIZE}")
        buffer = np.empty((count, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        view, filled = memoryview(buffer).cast("B"), 0
        try:
            while filled < len(view):
                got = stream.readinto(view[filled : filled + READ_CHUNK])
                if not got:
                    raise ValueError(f"{path}: truncated: {filled} of {len(view)} image bytes")
                filled += got
            if stream.read(1):
                raise ValueError(f"{path}: has trailing bytes after {count} images")
        except (EOFError, OSError) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    return buffer.transpose(0, 2, 1)


def _idx_images_in(folder: Path, split: str) -> Path:
    for gz in (True, False):
        candidate = folder / emnist_io.idx_file_name(split, "train", "images", gz=gz)
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{folder}: no {emnist_io.idx_file_name(split, 'train', 'images')} "
                            f"(run `python -m model_tools download --split {split} --out {folder}`)")


def load_nist_training(path: str | Path, split: str = "byclass", part: str = "train") -> NistImages:
    """Images and ByClass labels of a NIST folder, idx images file or ``.mat`` (see the module doc)."""
    path = Path(path)
    if path.is_dir():
        images_path = _idx_images_in(path, split)
    elif path.suffix == ".mat":
        loaded = emnist_io.load_mat_split(path, part, view=True)
        labels = to_byclass(loaded.labels, loaded.mapping, str(path))
        return NistImages(loaded.images, labels, f"{path} ({part})")
    elif path.is_file():
        images_path = path
    else:
        raise FileNotFoundError(f"{path}: no such folder or file")
    match = IDX_IMAGES.search(images_path.name)
    if not match:
        raise ValueError(f"{images_path}: not a NIST images file name (emnist-<split>-<part>-images-"
                         "idx3-ubyte[.gz]); pass the folder `download` wrote, an images file or an "
                         "emnist-<split>.mat")
    split, part = match["split"], match["part"]
    folder = images_path.parent
    labels_path = next((folder / emnist_io.idx_file_name(split, part, "labels", gz=gz) for gz in (True, False)
                        if (folder / emnist_io.idx_file_name(split, part, "labels", gz=gz)).is_file()), None)
    if labels_path is None:
        raise FileNotFoundError(f"{folder}: missing {emnist_io.idx_file_name(split, part, 'labels')}")
    labels = emnist_io.read_idx_labels(labels_path)
    mapping = emnist_io.read_split_mapping(folder / emnist_io.mapping_file_name(split), split)
    images = stream_idx_images(images_path)
    if len(images) != len(labels):
        raise ValueError(f"{images_path.name} has {len(images)} images but {labels_path.name} has "
                         f"{len(labels)} labels")
    return NistImages(images, to_byclass(labels, mapping, str(labels_path)), str(images_path))


def holdout_rows(labels: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows): ``count`` rows drawn at random (seeded) for validation, the rest
    for training; both sorted. Index arrays only: the images are not copied."""
    n = len(labels)
    if not 0 < count < n:
        raise ValueError(f"--validation-images must be between 1 and {n - 1} for {n} images")
    chosen = np.zeros(n, dtype=bool)
    chosen[np.random.default_rng(seed).choice(n, size=count, replace=False)] = True
    return np.flatnonzero(~chosen), np.flatnonzero(chosen)
