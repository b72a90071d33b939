"""Random small distortions of handwritten characters, for training on few images.

One ``grid_sample`` call per batch applies a random affine map (rotation, scale, shear, translation)
plus a smooth elastic displacement field (Simard et al. 2003) to every image at once; all randomness
comes from the caller's ``torch.Generator`` so a seed reproduces the exact same batches.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias

from emnist_contract.tensors import IMAGE_SIZE, NUM_PIXELS


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random distortions (uniform draws, per image)."""

    rotation_degrees: float = 10.0
    scale: float = 0.10  # each axis scaled by 1 +- scale
    shear: float = 0.15  # horizontal shear factor
    translation_px: float = 2.0
    elastic_px: float = 1.0  # standard deviation of the elastic displacement, in pixels
    elastic_grid: int = 4  # control points per side of the elastic field (fewer: smoother)
    elastic_probability: float = 0.5

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _uniform(n: int, half_range: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=generator) * 2.0 - 1.0) * half_range


def random_affine_theta(n: int, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """[n, 2, 3] matrices mapping output to input coordinates in ``affine_grid``'s [-1, 1] space."""
    angle = _uniform(n, math.radians(config.rotation_degrees), generator)
    scale_x = 1.0 + _uniform(n, config.scale, generator)
    scale_y = 1.0 + _uniform(n, config.scale, generator)
    shear = _uniform(n, config.shear, generator)
    # 1 pixel is 2/28 in normalised coordinates (align_corners=False).
    shift = _uniform(2 * n, config.translation_px * 2.0 / IMAGE_SIZE, generator).reshape(n, 2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shearing = torch.zeros(n, 2, 2)
    shearing[:, 0, 0] = 1.0
    shearing[:, 0, 1] = shear
    shearing[:, 1, 1] = 1.0
    scaling = torch.diag_embed(torch.stack([1.0 / scale_x, 1.0 / scale_y], -1))
    linear = rotation @ shearing @ scaling
    return torch.cat([linear, shift.unsqueeze(-1)], dim=-1)


@functools.cache
def _upsampling_basis(points: int) -> torch.Tensor:
    """[points*points, 28*28]: the bicubic upsampling of each control point, so a field is one matmul."""
    identity = torch.eye(points * points).view(points * points, 1, points, points)
    basis = F.interpolate(identity, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bicubic", align_corners=True)
    return basis.view(points * points, NUM_PIXELS)


def random_elastic_field(n: int, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """[n, 28, 28, 2] smooth random displacements in normalised coordinates (zero for skipped images).

    Random displacements at a coarse grid of control points, upsampled bicubically: as smooth as
    Simard's Gaussian-filtered noise at a fraction of the cost.
    """
    points = config.elastic_grid
    coarse = torch.randn(n * 2, points * points, generator=generator) * (config.elastic_px * 2.0 / IMAGE_SIZE)
    applied = (torch.rand(n, generator=generator) < config.elastic_probability).to(coarse.dtype)
    coarse = coarse * applied.repeat_interleave(2).unsqueeze(1)
    field = coarse @ _upsampling_basis(points)
    return field.view(n, 2, IMAGE_SIZE, IMAGE_SIZE).permute(0, 2, 3, 1)


def augment_batch(
    images: torch.Tensor, generator: torch.Generator, config: AugmentConfig | None = None
) -> torch.Tensor:
    """Distort a batch of flattened images float32 [N, 784] in [0, 1]; same shape and range out."""
    config = config or AugmentConfig()
    if images.ndim != 2 or images.shape[1] != NUM_PIXELS:
        raise ValueError(f"expected images of shape [N, {NUM_PIXELS}], got {list(images.shape)}")
    n = images.shape[0]
    if n == 0:
        return images
    # Random numbers come from the (CPU) generator, so a seed gives the same distortions on any device.
    theta = random_affine_theta(n, config, generator).to(images.device)
    grid = F.affine_grid(theta, [n, 1, IMAGE_SIZE, IMAGE_SIZE], align_corners=False)
    if config.elastic_px > 0 and config.elastic_probability > 0:
        grid = grid + random_elastic_field(n, config, generator).to(images.device)
    warped = F.grid_sample(
        images.view(n, 1, IMAGE_SIZE, IMAGE_SIZE),
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )
    return warped.clamp_(0.0, 1.0).view(n, NUM_PIXELS)
