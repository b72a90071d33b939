"""Fixtures of the translation tests: a model trained, exported and converted once per test session.

A small DNN trained in the test on real validation images (a few hundred Adam steps), its ONNX export,
and one verified conversion of it; plus one conversion of a copy of the shipped reference ONNX through
the import path. The session fixture builds them in a ``tmp_path_factory`` folder, so every module of
this package shares one conversion of each and pytest removes the folder like any other tmp path.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from model_tools.common.hashing import file_sha256
from model_tools.data.datasets import load_split, to_model_input

#: Validation images the session's conversions check parity on.
CHECK_IMAGES = 600


@dataclass(frozen=True)
class Translation:
    """What the session built, and the sha256 of the user's files before anything read them."""

    root: Path
    check_images: int
    checkpoint: Path
    onnx: Path
    onnx_sha_before: str
    version_dir: Path
    reference_copy: Path
    reference_sha_before: str
    reference_version_dir: Path


def _train_small_dnn(path: Path, steps: int = 300, seed: int = 0) -> Path:
    """A real (if brief) training run: Adam on 3,000 validation images, saved as a checkpoint, with the
    run's metrics.json naming the classes none of those images shows (as ``train`` writes it)."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual torch alias

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
    counts = np.bincount(labels[:3000], minlength=NUM_CLASSES)
    absent = [BYCLASS_LABELS[c] for c in np.flatnonzero(counts == 0)]
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "metrics.json").write_text(json.dumps({"classes_without_training_images": absent}))
    return save_checkpoint(Checkpoint(arch="dnn", model=model, config={"steps": steps, "seed": seed}), path)


@pytest.fixture(scope="session")
def reference_onnx(repo: Path) -> Path:
    """The shipped reference model: opset 6, batch fixed at 1, foreign tensor names (never written to)."""
    return repo / "models" / "reference" / "dnn_model_pt.onnx"


@pytest.fixture(scope="session")
def translation(tmp_path_factory: pytest.TempPathFactory, reference_onnx: Path) -> Translation:
    """Train, export, convert (ours and a copy of the reference), once for the whole session."""
    from model_tools.__main__ import main
    from model_tools.export.convert import convert_onnx
    from model_tools.export.model_info import info_from_option
    from model_tools.export.onnx_export import export_checkpoint

    root = tmp_path_factory.mktemp("translation")
    checkpoint = _train_small_dnn(root / "run" / "checkpoint.pt")
    onnx_path = root / "export" / "model.onnx"
    export_checkpoint(checkpoint, onnx_path, limit=CHECK_IMAGES)
    onnx_sha = file_sha256(onnx_path)
    # Through the command line, as a person converts: the run's model info comes with --checkpoint.
    assert main(["convert", str(onnx_path), "--name", "emnist", "--base", str(root / "models"),
                 "--checkpoint", str(checkpoint), "--limit", str(CHECK_IMAGES)]) == 0
    version_dir = root / "models" / "emnist" / "1"
    reference_copy = root / "user" / "dnn_model_pt.onnx"
    reference_copy.parent.mkdir()
    shutil.copyfile(reference_onnx, reference_copy)
    reference_sha = file_sha256(reference_copy)
    reference_version = convert_onnx(reference_copy, "reference", base=root / "models", limit=CHECK_IMAGES,
                                     model_info=info_from_option("none", "trained on every class"))
    return Translation(root, CHECK_IMAGES, checkpoint, onnx_path, onnx_sha, version_dir, reference_copy,
                       reference_sha, reference_version)


@pytest.fixture(scope="session")
def real_inputs() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """``real_inputs(count, split="test")``: model inputs float32 [N, 784] and labels of shipped images.

    The test split by default: images the session's model was not trained on.
    """
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def take(count: int = 64, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
        if split not in splits:
            splits[split] = load_split(split)
        images, labels = splits[split]
        return to_model_input(images[:count]), labels[:count]

    return take


@pytest.fixture(scope="session")
def loaded_version(translation: Translation) -> Any:
    """The session's converted version, loaded with ``tf.saved_model.load``."""
    import tensorflow as tf

    return tf.saved_model.load(str(translation.version_dir))
