"""Mixup and CutMix for ``train --mixing``: each image is blended with another of its batch.

Mixup (Zhang et al. 2018) averages two images with a weight lam ~ Beta(alpha, alpha); CutMix (Yun et al.
2019) pastes a box of the partner image covering 1 - lam of the picture. The loss is then lam times the
loss on the image's own label plus 1 - lam times the loss on the partner's, which keeps the network from
answering look-alike characters with full confidence. Draws come from a seeded numpy generator, so a run
stays reproducible; without mixing the batch is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emnist_contract.tensors import IMAGE_SIZE

#: The choices of ``--mixing``.
MIXING = ("none", "mixup", "cutmix")


@dataclass
class MixedBatch:
    """The mixed images, the partner of each image (an index into the batch) and the share lam of the
    image's own label in its target."""

    images: Any
    partner: Any
    lam: float


def mix_batch(images: Any, rng: np.random.Generator, mode: str, alpha: float) -> MixedBatch:
    """Blend every image of ``images`` (float tensor [B, 784]) with a partner from the same batch."""
    import torch

    if mode not in MIXING or mode == "none":
        raise ValueError(f"unknown mixing {mode!r}; expected mixup or cutmix")
    if not alpha > 0:
        raise ValueError(f"the mixing alpha must be positive, got {alpha}")
    count = images.shape[0]
    partner = torch.from_numpy(rng.permutation(count)).to(images.device)
    lam = float(rng.beta(alpha, alpha))
    if mode == "mixup":
        return MixedBatch(lam * images + (1.0 - lam) * images[partner], partner, lam)
    side = IMAGE_SIZE
    cut = np.sqrt(1.0 - lam)
    height, width = int(round(side * cut)), int(round(side * cut))
    centre_y, centre_x = int(rng.integers(side)), int(rng.integers(side))
    top, bottom = max(centre_y - height // 2, 0), min(centre_y + (height + 1) // 2, side)
    left, right = max(centre_x - width // 2, 0), min(centre_x + (width + 1) // 2, side)
    mixed = images.reshape(count, side, side).clone()
    mixed[:, top:bottom, left:right] = images.reshape(count, side, side)[partner, top:bottom, left:right]
    kept = 1.0 - (bottom - top) * (right - left) / (side * side)  # the pasted box may be clipped at an edge
    return MixedBatch(mixed.reshape(count, side * side), partner, kept)
