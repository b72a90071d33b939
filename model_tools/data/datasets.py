"""The shipped real data in ``data/``: the one place every stage gets its images and labels from.

Splits: "train" and "validation" (the deduplicated training pool, split stratified and seeded),
"test" (NIST's official emnist-mnist test digits, kept aside, never trained on), the optional
"mnist" (original MNIST digits, a different distribution, for robustness checks only) and
"synthetic" (characters drawn from held-out fonts, ``synthetic.npz``: never real images) and
"digits-upper" (the stand-in for NIST's official ByClass test digits and uppercase, see
:func:`digits_and_uppercase`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emnist_contract.labels import CLASS_GROUP_RANGES, NUM_CLASSES
from emnist_contract.tensors import IMAGE_SIZE, NUM_PIXELS, pixels_to_unit
from model_tools.common.paths import DATA_DIR
from model_tools.data.emnist_io import read_idx_images, read_idx_labels

#: ``data/`` at the repository root.
DEFAULT_DATA_DIR = DATA_DIR

#: Split name -> file inside ``data/`` (npz with ``images`` and ``labels``, or NIST idx for "test").
NPZ_SPLITS: dict[str, str] = {
    "train": "train.npz",
    "validation": "validation.npz",
    "mnist": "mnist_digits.npz",
}
TEST_IMAGES = "nist/emnist-mnist-test-images-idx3-ubyte.gz"
TEST_LABELS = "nist/emnist-mnist-test-labels-idx1-ubyte.gz"
#: NIST's full ByClass label files (no images): the class mix of the whole data set.
BYCLASS_TRAIN_LABELS = "nist/emnist-byclass-train-labels-idx1-ubyte.gz"
BYCLASS_TEST_LABELS = "nist/emnist-byclass-test-labels-idx1-ubyte.gz"
#: Characters drawn from fonts (``render-synthetic``), kept apart from the real images.
SYNTHETIC_FILE = "synthetic.npz"
#: The splits stored in data/ (no image in two of them) ...
STORED_SPLITS: tuple[str, ...] = ("train", "validation", "test", "mnist", "synthetic")
#: ... and every split ``load_split`` reads: "digits-upper" is assembled from three of them.
SPLITS: tuple[str, ...] = (*STORED_SPLITS, "digits-upper")


def load_split(split: str, data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 28, 28] upright and ByClass labels int64 [N] of a shipped split."""
    data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    if split == "synthetic":
        images, labels = load_synthetic("validation", data_dir / SYNTHETIC_FILE)
    elif split == "digits-upper":
        images, labels = digits_and_uppercase(data_dir)
    elif split == "test":
        # emnist-mnist labels 0-9 are the ByClass labels of the digits.
        images = read_idx_images(data_dir / TEST_IMAGES)
        labels = read_idx_labels(data_dir / TEST_LABELS)
    elif split in NPZ_SPLITS:
        path = data_dir / NPZ_SPLITS[split]
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing; rebuild with `python -m model_tools build-data`")
        with np.load(path) as content:
            images, labels = content["images"], content["labels"].astype(np.int64)
    else:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or images.dtype != np.uint8:
        raise ValueError(f"split {split!r}: expected uint8 images N x {IMAGE_SIZE} x {IMAGE_SIZE}, found "
                         f"{images.dtype} {images.shape}")
    if len(images) != len(labels) or (labels.size and not 0 <= labels.min() <= labels.max() < NUM_CLASSES):
        raise ValueError(f"split {split!r}: {len(images)} images, {len(labels)} labels, labels must be "
                         f"0-{NUM_CLASSES - 1}")
    return images, labels


def load_synthetic(part: str, path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic images of the training fonts (``part="train"``) or of the held-out fonts
    (``"validation"``): uint8 [N, 28, 28] upright and ByClass labels int64 [N]."""
    path = Path(path) if path is not None else DEFAULT_DATA_DIR / SYNTHETIC_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; draw it with `python -m model_tools render-synthetic`")
    with np.load(path) as content:
        names = [str(name) for name in content["split_names"]]
        if part not in names:
            raise ValueError(f"{path}: no part {part!r}; it holds {', '.join(names)}")
        chosen = content["split"] == names.index(part)
        return content["images"][chosen], content["labels"][chosen].astype(np.int64)


def digits_and_uppercase(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The closest set here to NIST's official ByClass test digits and uppercase, none of it trained on:
    the official test digits, the real validation uppercase letters, and for the uppercase letters
    without real images (J Q X Y Z) the held-out fonts' drawings. Read its ByClass-mix accuracy."""
    test_images, test_labels = load_split("test", data_dir)
    real_images, real_labels = load_split("validation", data_dir)
    drawn_images, drawn_labels = load_synthetic("validation", data_dir / SYNTHETIC_FILE)
    uppercase = np.asarray(CLASS_GROUP_RANGES["uppercase"])
    real = np.isin(real_labels, uppercase)
    drawn = np.isin(drawn_labels, uppercase) & ~np.isin(drawn_labels, real_labels)
    return (np.concatenate([test_images, real_images[real], drawn_images[drawn]]),
            np.concatenate([test_labels, real_labels[real], drawn_labels[drawn]]))


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] upright -> float32 [N, 784] pixels/255: the tensor every model takes."""
    images = np.asarray(images)
    return pixels_to_unit(images).reshape(len(images), NUM_PIXELS)


def validation_inputs(limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The shipped validation images as the model tensor (float32 [N, 784]) and their labels.

    The real images every parity check of the translation stage runs on.
    """
    images, labels = load_split("validation")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return to_model_input(images), labels
