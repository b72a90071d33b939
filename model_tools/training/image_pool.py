"""The training images as one indexable pool over several uint8 arrays, never copied.

The real images (the shipped split, or NIST's full files: half a gigabyte of uint8 for ByClass) and
the synthetic ones stay in their own arrays; the pool maps a global index to (array, row) and turns
only the rows of a batch into float32. So ``train`` holds one uint8 copy of the images whatever
their number, and mixing synthetic characters in costs no copy of the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.tensors import NUM_PIXELS, PIXEL_MAX


@dataclass
class ImageSource:
    """Rows of one uint8 [n, 28, 28] array (a view is fine) and their ByClass labels."""

    images: np.ndarray
    labels: np.ndarray
    synthetic: bool = False
    rows: np.ndarray | None = None  # the rows of ``images`` that belong to the pool (default: all)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise ValueError(f"expected uint8 images [N, 28, 28], got {self.images.dtype} "
                             f"{self.images.shape}")
        if self.rows is None:
            if len(self.labels) != len(self.images):
                raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        elif len(self.labels) != len(self.rows):
            raise ValueError(f"{len(self.rows)} rows but {len(self.labels)} labels")


def training_rows(labels: np.ndarray, fraction: float | None, limit: int | None, seed: int) -> np.ndarray:
    """The rows of the real training images a run keeps, in pool order: with ``fraction``, that share of
    every class's images (at least one each), drawn with ``seed``; then with ``limit``, the first
    ``limit`` of those. A learning curve needs the first: the pools are stored class by class, so the
    first N images are a few classes, not a smaller sample of the same mix."""
    rows = np.arange(len(labels))
    if fraction is not None and fraction < 1.0:
        rng = np.random.default_rng(seed)
        kept = []
        for label in np.unique(labels):
            members = rows[labels == label]
            count = max(1, int(round(fraction * len(members))))
            kept.append(rng.choice(members, size=count, replace=False))
        rows = np.sort(np.concatenate(kept))
    return rows if limit is None else rows[:limit]


def training_subset(images: np.ndarray, labels: np.ndarray, fraction: float | None, limit: int | None,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of :func:`training_rows` (the arrays as given when neither is set)."""
    if fraction is None and limit is None:
        return images, labels
    rows = training_rows(np.asarray(labels), fraction, limit, seed)
    return np.asarray(images)[rows], np.asarray(labels)[rows]


class ImagePool:
    """Several sources behind one index space; ``batch(indices)`` gives float32 [B, 784] pixels/255."""

    def __init__(self, sources: list[ImageSource]) -> None:
        import torch

        if not sources or sum(len(s.labels) for s in sources) == 0:
            raise ValueError("the training set is empty")
        self.sources = sources
        self.labels = torch.from_numpy(np.concatenate([np.asarray(s.labels, np.int64) for s in sources]))
        self.synthetic = torch.from_numpy(np.concatenate(
            [np.full(len(s.labels), s.synthetic, dtype=bool) for s in sources]))
        self._images = [torch.from_numpy(s.images) for s in sources]
        self._rows = [None if s.rows is None else torch.from_numpy(np.asarray(s.rows, np.int64))
                      for s in sources]
        sizes = [len(s.labels) for s in sources]
        self._starts = np.cumsum([0] + sizes)
        self._part = torch.from_numpy(np.repeat(np.arange(len(sources), dtype=np.int64), sizes))

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: Any) -> ImagePool:
        """Keep the uint8 images (and indices) on ``device``: batches are then gathered, scaled and
        augmented there, with no host-to-device copy per step (a GPU stays busy; ByClass needs 0.55 GB)."""
        self._images = [images.to(device) for images in self._images]
        self._rows = [None if rows is None else rows.to(device) for rows in self._rows]
        self._part = self._part.to(device)
        self.labels = self.labels.to(device)
        return self

    def _rows_of(self, part: int, indices: Any) -> Any:
        local = indices - int(self._starts[part])
        rows = self._rows[part]
        return local if rows is None else rows[local]

    def batch(self, indices: Any) -> Any:
        """float32 [B, 784] pixels/255 of the pool's images at ``indices`` (a 1-D int64 tensor), in order."""
        import torch

        if len(self.sources) == 1:
            pixels = self._images[0][self._rows_of(0, indices)]
        else:
            pixels = torch.empty((len(indices), *self._images[0].shape[1:]), dtype=torch.uint8,
                                 device=indices.device)
            parts = self._part[indices]
            for part in range(len(self.sources)):
                chosen = parts == part
                if bool(chosen.any()):
                    pixels[chosen] = self._images[part][self._rows_of(part, indices[chosen])]
        # Bit for bit emnist_contract.tensors.pixels_to_unit: float32 division by 255.
        return pixels.reshape(len(indices), NUM_PIXELS).to(torch.float32).div_(float(PIXEL_MAX))

    def class_counts(self, synthetic: bool) -> np.ndarray:
        """Images per class among the synthetic (True) or the real (False) images, int64 [62]."""
        chosen = (self.synthetic == synthetic).numpy()
        return np.bincount(self.labels.cpu().numpy()[chosen], minlength=NUM_CLASSES)


def even_case_prior(prior: np.ndarray, classes: list[int]) -> np.ndarray:
    """``prior`` with each listed letter and its other case sharing their summed mass equally."""
    from emnist_contract.labels import BYCLASS_LABELS

    prior = np.array(prior, dtype=np.float64)
    for index in classes:
        char = BYCLASS_LABELS[index]
        twin = BYCLASS_LABELS.index(char.swapcase())
        if twin != index:
            prior[[index, twin]] = prior[[index, twin]].mean()
    return prior


def sample_weights(labels: np.ndarray, synthetic: np.ndarray, synthetic_weight: float, mode: str,
                   prior: np.ndarray | None = None, power: float = 1.0) -> np.ndarray:
    """Loss weight of every training image, float32 [N], mean 1 over the pool.

    A synthetic image counts ``synthetic_weight`` real ones. ``mode`` is the class balance of
    ``--class-weights``: "none" (only the synthetic weight), "inverse-frequency" (every class present
    the same total weight) or "byclass-mix" (each class's total weight is its share of ``prior``, NIST's
    ByClass class mix), counting images with their synthetic weight. ``power`` tempers the class
    balance: class weights ** power (0: no balance, 1: the full mix).
    """
    labels = np.asarray(labels, dtype=np.int64)
    per_image = np.where(np.asarray(synthetic, dtype=bool), np.float64(synthetic_weight), 1.0)
    mass = np.bincount(labels, weights=per_image, minlength=NUM_CLASSES)
    present = mass > 0
    class_weight = np.ones(NUM_CLASSES)
    if mode == "inverse-frequency":
        class_weight[present] = mass.sum() / (present.sum() * mass[present])
    elif mode == "byclass-mix":
        if prior is None:
            raise ValueError("byclass-mix needs the ByClass class shares")
        class_weight[present] = np.asarray(prior, np.float64)[present] / (mass[present] / mass.sum())
    elif mode != "none":
        raise ValueError(f"unknown class weighting {mode!r}")
    weights = class_weight[labels] ** power * per_image
    return (weights / weights.mean()).astype(np.float32)
