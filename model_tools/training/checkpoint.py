"""Saving and loading training checkpoints: weights plus what is needed to rebuild and describe them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emnist_contract.labels import BYCLASS_LABELS
from model_tools.common.atomic_io import atomic_output
from model_tools.common.hashing import file_sha256
from model_tools.training.networks import build_model


@dataclass
class Checkpoint:
    """A trained model and its provenance."""

    arch: str
    model: nn.Module
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = BYCLASS_LABELS
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def sha256(self) -> str | None:
        """Hash of the checkpoint file, recorded in exported models to trace them back."""
        return file_sha256(self.path) if self.path else None


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write a checkpoint atomically (temporary file, then rename)."""
    path = Path(path)
    payload = {
        "arch": checkpoint.arch,
        "arch_kwargs": checkpoint.arch_kwargs,
        "state_dict": checkpoint.model.state_dict(),
        "labels": list(checkpoint.labels),
        "metrics": checkpoint.metrics,
        "config": checkpoint.config,
    }
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    checkpoint.path = path
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Rebuild a model from a checkpoint file, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign or truncated files
        raise ValueError(f"{path} is not a readable checkpoint: {exc}") from exc
    model = build_model(payload["arch"], **payload.get("arch_kwargs", {}))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return Checkpoint(
        arch=payload["arch"],
        model=model,
        arch_kwargs=payload.get("arch_kwargs", {}),
        labels=tuple(payload.get("labels", BYCLASS_LABELS)),
        metrics=payload.get("metrics", {}),
        config=payload.get("config", {}),
        path=path,
    )
