"""Augmentation: small seeded distortions of real characters, the identity when every range is 0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model_tools.training.augment import AugmentConfig, augment_batch


def test_augmentation_keeps_shape_range_and_is_seeded(validation_split) -> None:
    images, _ = validation_split
    batch = torch.from_numpy(images[:64].reshape(64, -1).astype(np.float32) / 255.0)
    first = augment_batch(batch, torch.Generator().manual_seed(0))
    again = augment_batch(batch, torch.Generator().manual_seed(0))
    other = augment_batch(batch, torch.Generator().manual_seed(1))
    assert first.shape == batch.shape and first.dtype == torch.float32
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    # Small distortions: the images change, but the ink stays about as much ink.
    assert float((first - batch).abs().mean()) > 0.01
    ink_ratio = first.sum(dim=1) / batch.sum(dim=1)
    assert float(ink_ratio.min()) > 0.6 and float(ink_ratio.max()) < 1.5


def test_augmentation_with_zero_ranges_is_the_identity() -> None:
    batch = torch.rand(8, 784)
    none = AugmentConfig(rotation_degrees=0, scale=0, shear=0, translation_px=0, elastic_px=0)
    out = augment_batch(batch, torch.Generator().manual_seed(0), none)
    torch.testing.assert_close(out, batch, atol=1e-5, rtol=0)


def test_augmentation_refuses_wrong_shape() -> None:
    with pytest.raises(ValueError, match="784"):
        augment_batch(torch.rand(2, 28, 28), torch.Generator())
