"""``train`` on other images: synthetic characters mixed in (and validated apart), NIST's files (--data)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emnist_contract.labels import BYCLASS_LABELS
from model_tools.__main__ import main
from model_tools.data import emnist_io
from model_tools.data.datasets import load_synthetic

MISSING = ["J", "Q", "X", "Y", "Z", "j", "q", "x", "y", "z"]


def test_synthetic_images_teach_the_missing_classes_and_are_validated_apart(tmp_path, capsys) -> None:
    assert main(["train", "--arch", "linear", "--epochs", "2", "--train-limit", "2000", "--eval-every", "10",
                 "--class-weights", "byclass-mix", "--synthetic", "--device", "cpu", "--no-test",
                 "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # "missing" = every class the 2,000 real images lack: the ten letters and whatever else they miss.
    taught_by_fonts = [c for c in BYCLASS_LABELS if c not in _real_classes(2000)]
    assert set(MISSING) <= set(taught_by_fonts)
    assert metrics["classes_from_synthetic_images"] == taught_by_fonts
    assert metrics["classes_without_training_images"] == []
    _, synthetic_labels = load_synthetic("train")
    assert metrics["train_images_real"] == 2000
    assert metrics["train_images_synthetic"] == int(np.isin(
        synthetic_labels, [BYCLASS_LABELS.index(c) for c in taught_by_fonts]).sum())
    held_out = metrics["validation_synthetic"]
    assert held_out["images"] == len(load_synthetic("validation")[1])
    assert held_out["accuracy"] == metrics["summary"]["val_synthetic_accuracy"]
    assert len(metrics["curves"]["val_synthetic_accuracy"]) == len(metrics["curves"]["step"])
    # The real validation report stays the real images only.
    assert metrics["validation"]["images"] == metrics["validation_images"] == 4119
    assert "held-out fonts" in capsys.readouterr().out


def _real_classes(limit: int) -> set[str]:
    from model_tools.data.datasets import load_split

    return {BYCLASS_LABELS[c] for c in np.unique(load_split("train")[1][:limit])}


def test_synthetic_classes_missing_refuses_when_nothing_is_missing() -> None:
    """With every class present in the real images, "missing" has nothing to add: a clear refusal."""
    from model_tools.training.train_command import synthetic_source

    with pytest.raises(ValueError, match="synthetic-classes all"):
        synthetic_source(_shipped(), np.arange(62), "missing")
    source = synthetic_source(_shipped(), np.arange(62), "all")
    assert source.synthetic and len(source.labels) == len(load_synthetic("train")[1])


def _shipped():
    from model_tools.data.datasets import DEFAULT_DATA_DIR, SYNTHETIC_FILE

    return DEFAULT_DATA_DIR / SYNTHETIC_FILE


def test_train_on_nist_files_holds_out_validation_images(tmp_path, train_slice) -> None:
    images, labels = train_slice
    folder = tmp_path / "emnist"
    folder.mkdir()
    emnist_io.write_idx(folder / "emnist-byclass-train-images-idx3-ubyte.gz", images.transpose(0, 2, 1))
    emnist_io.write_idx(folder / "emnist-byclass-train-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    (folder / "emnist-byclass-mapping.txt").write_text(
        "\n".join(f"{i} {ord(c)}" for i, c in enumerate(BYCLASS_LABELS)) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--arch", "linear", "--epochs", "1", "--data", str(folder), "--validation-images",
                 "200", "--eval-every", "4", "--device", "cpu", "--no-test", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_images"] == len(labels) - 200 and metrics["validation_images"] == 200
    assert metrics["config"]["data"] == str(folder)
    assert main(["train", "--arch", "linear", "--data", str(folder), "--validation-images", "5000",
                 "--out", str(out)]) == 2
