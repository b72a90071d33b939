"""Realistic synthetic phone photos of pen-written characters, for the preprocessing tests.

No real photo ships with the repo, so one is made the way a photo differs from EMNIST: a real EMNIST
character's centre line (skeleton) redrawn with a thin blue ballpoint stroke, much larger than 28x28,
off-centre on off-white paper lit unevenly (a strong gradient plus vignetting), with sensor noise,
saved as a JPEG.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from skimage import filters, morphology, transform


def pen_photo(pixels28: np.ndarray, seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG 'photo' (width x height = ``size``) of the character in an EMNIST 28x28 uint8 image."""
    rng = np.random.default_rng(seed)
    width, height = size
    char_side = int(rng.integers(220, 300))
    shape = transform.resize(pixels28.astype(np.float32) / 255.0, (char_side, char_side), order=3)
    skeleton = morphology.skeletonize(shape > 0.45)
    stroke = morphology.dilation(skeleton, morphology.disk(2)).astype(np.float32)  # ~5 px pen line
    stroke = np.clip(filters.gaussian(stroke, sigma=1.0) * 1.6, 0, 1)

    top = int(rng.integers(20, height - char_side - 20))
    left = int(rng.integers(40, width - char_side - 40))

    # Light: a strong gradient in a random direction plus vignetting (smooth: computed coarse, upscaled).
    coarse_h, coarse_w = max(2, height // 8), max(2, width // 8)
    ys = (np.arange(coarse_h, dtype=np.float32) / coarse_h)[:, None]
    xs = (np.arange(coarse_w, dtype=np.float32) / coarse_w)[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    gradient = np.cos(angle) * (xs - 0.5) + np.sin(angle) * (ys - 0.5)
    vignette = (xs - 0.5) ** 2 + (ys - 0.5) ** 2
    coarse = np.clip(0.9 - 0.5 * gradient - 0.5 * vignette, 0.3, 1.0).astype(np.float32)
    light = np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.BILINEAR))

    paper = np.array([0.97, 0.95, 0.88], dtype=np.float32)
    pen = np.array([0.12, 0.16, 0.45], dtype=np.float32)
    photo = light[..., None] * paper
    region = photo[top : top + char_side, left : left + char_side]
    ink = stroke[..., None]
    region[...] = region * (1 - ink) + light[top : top + char_side, left : left + char_side, None] * pen * ink
    photo += rng.standard_normal((height, width, 3), dtype=np.float32) * np.float32(0.025)
    photo = (np.clip(photo, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(photo, mode="RGB").save(buffer, format="JPEG", quality=75)
    return buffer.getvalue()
