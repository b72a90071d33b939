"""Mixup and CutMix: what each does to a batch, the share lam, and the seeded draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model_tools.training.mixing import mix_batch


def _batch(count: int = 6) -> torch.Tensor:
    return torch.arange(count, dtype=torch.float32).repeat_interleave(784).reshape(count, 784) + 1.0


def test_mixup_blends_each_image_with_its_partner_by_lam() -> None:
    images = _batch()
    mixed = mix_batch(images, np.random.default_rng(0), "mixup", 0.4)
    assert 0.0 <= mixed.lam <= 1.0
    assert sorted(mixed.partner.tolist()) == list(range(6))
    expected = mixed.lam * images + (1 - mixed.lam) * images[mixed.partner]
    torch.testing.assert_close(mixed.images, expected)


def test_cutmix_pastes_a_box_whose_area_is_one_minus_lam() -> None:
    images = _batch()
    for seed in range(20):
        mixed = mix_batch(images, np.random.default_rng(seed), "cutmix", 1.0)
        out = mixed.images.reshape(6, 28, 28)
        for index in range(6):
            own, other = float(images[index, 0]), float(images[mixed.partner[index], 0])
            if own == other:
                continue  # an image drawn as its own partner keeps its pixels
            pasted = (out[index] == other).float().mean().item()
            assert pasted == pytest.approx(1 - mixed.lam, abs=1e-6)
            assert bool(((out[index] == own) | (out[index] == other)).all())


def test_the_draws_come_from_the_generator_only() -> None:
    images = _batch()
    first, second = (mix_batch(images, np.random.default_rng(7), "cutmix", 0.2) for _ in range(2))
    assert first.lam == second.lam and torch.equal(first.images, second.images)
    other = mix_batch(images, np.random.default_rng(8), "cutmix", 0.2)
    assert other.lam != first.lam


def test_refusals() -> None:
    with pytest.raises(ValueError, match="unknown mixing"):
        mix_batch(_batch(), np.random.default_rng(0), "none", 0.2)
    with pytest.raises(ValueError, match="alpha must be positive"):
        mix_batch(_batch(), np.random.default_rng(0), "mixup", 0.0)
