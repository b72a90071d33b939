"""Request bodies of the benchmark, made from real validation images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_tools.client.serving_client import encode_payload


def chosen_images(seed: int) -> np.ndarray:
    """128 real validation images (uint8 [128,28,28]), chosen with ``seed``: every cell's images."""
    from model_tools.data.datasets import load_split

    images, _ = load_split("validation")
    return images[np.random.default_rng(seed).choice(len(images), 128, replace=False)]


def write_bodies(folder: Path, seed: int) -> dict[str, tuple[Path, str]]:
    """REST request bodies of the chosen images: name -> (file, content type)."""
    chosen = chosen_images(seed)
    bodies = {}
    for name, count, payload in (
        ("b1_json", 1, "json"),
        ("b128_json", 128, "json"),
        ("b128_b64", 128, "b64"),
        ("b128_npy", 128, "npy"),
    ):
        body, content_type = encode_payload(chosen[:count], payload)
        path = folder / f"{name}.body"
        path.write_bytes(body)
        bodies[name] = (path, content_type)
    return bodies
