"""Checkpoints: weights, architecture and provenance survive a round trip; foreign files are refused."""

from __future__ import annotations

import pytest
import torch

from emnist_contract.labels import BYCLASS_LABELS
from model_tools.common.hashing import file_sha256
from model_tools.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model_tools.training.networks import build_model


@pytest.mark.parametrize("arch", ["linear", "dnn", "cnn"])
def test_round_trip_keeps_outputs_labels_and_provenance(arch: str, tmp_path) -> None:
    torch.manual_seed(1)
    model = build_model(arch).eval()
    checkpoint = Checkpoint(arch=arch, model=model, metrics={"val_accuracy": 0.5}, config={"seed": 1})
    path = save_checkpoint(checkpoint, tmp_path / "c.pt")
    loaded = load_checkpoint(path)
    images = torch.rand(3, 784)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(images), model(images))
    assert loaded.labels == BYCLASS_LABELS
    assert loaded.arch == arch and loaded.metrics == {"val_accuracy": 0.5} and loaded.config == {"seed": 1}
    assert not loaded.model.training
    assert loaded.sha256 == checkpoint.sha256 == file_sha256(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # written atomically, no temporary left


def test_missing_and_foreign_files_are_refused(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "none.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(garbage)
