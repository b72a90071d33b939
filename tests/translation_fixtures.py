"""Expensive artifacts of the translation tests, built once per test session and shared by modules.

A small DNN trained in the test on real validation images (a few hundred Adam steps), its ONNX export,
and one verified conversion of it; plus one conversion of the shipped reference ONNX through the import
path. Each builder is cached, so test_onnx_io, test_convert and test_inspect pay for them once.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_tools.common.hashing import file_sha256

REPO = Path(__file__).resolve().parent.parent
REFERENCE_ONNX = REPO / "models" / "reference" / "dnn_model_pt.onnx"
#: Validation images used by conversions in tests (parity is checked on all of them).
CHECK_IMAGES = 600


@dataclass(frozen=True)
class Built:
    root: Path
    checkpoint: Path
    onnx: Path
    onnx_sha_before: str
    version_dir: Path
    reference_copy: Path
    reference_sha_before: str
    reference_version_dir: Path


def train_small_dnn(path: Path, steps: int = 300, seed: int = 0) -> Path:
    """A real (if brief) training run: Adam on 3,000 validation images, saved as a checkpoint."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from model_tools.data.datasets import load_split, to_model_input
    from model_tools.training.checkpoint import Checkpoint, save_checkpoint
    from model_tools.training.networks import build_model

    images, labels = load_split("validation")
    x = torch.from_numpy(to_model_input(images[:3000]))
    y = torch.from_numpy(labels[:3000])
    torch.manual_seed(seed)
    model = build_model("dnn")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(y), (64,), generator=generator)
        optimizer.zero_grad()
        F.cross_entropy(model(x[batch]), y[batch]).backward()
        optimizer.step()
    model.eval()
    return save_checkpoint(Checkpoint(arch="dnn", model=model, config={"steps": steps, "seed": seed}), path)


@functools.cache
def build() -> Built:
    """Train, export, convert (ours and the reference); the folder lives for the whole session."""
    from model_tools.export.convert import convert_onnx
    from model_tools.export.onnx_export import export_checkpoint

    root = Path(tempfile.mkdtemp(prefix="translation-tests-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    checkpoint = train_small_dnn(root / "run" / "checkpoint.pt")
    onnx_path = root / "export" / "model.onnx"
    export_checkpoint(checkpoint, onnx_path, limit=CHECK_IMAGES)
    onnx_sha = file_sha256(onnx_path)
    version_dir = convert_onnx(onnx_path, "emnist", base=root / "models", checkpoint_path=checkpoint,
                               limit=CHECK_IMAGES)
    reference_copy = root / "user" / "dnn_model_pt.onnx"
    reference_copy.parent.mkdir()
    shutil.copyfile(REFERENCE_ONNX, reference_copy)
    reference_sha = file_sha256(reference_copy)
    reference_version = convert_onnx(reference_copy, "reference", base=root / "models", limit=CHECK_IMAGES)
    return Built(root, checkpoint, onnx_path, onnx_sha, version_dir, reference_copy, reference_sha,
                 reference_version)


def real_images(count: int = 64, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Model inputs float32 [N, 784] and labels of real images the models were not trained on."""
    from model_tools.data.datasets import load_split, to_model_input

    images, labels = load_split(split)
    return to_model_input(images[:count]), labels[:count]
