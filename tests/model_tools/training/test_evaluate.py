"""Scoring a model: the checkpoint predictor, the report's figures against a direct count, its text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emnist_contract.labels import BYCLASS_LABELS
from model_tools.data.datasets import to_model_input
from model_tools.data.image_sources import LabelledImages, load_images
from model_tools.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model_tools.training.evaluate import CheckpointPredictor, evaluate_predictor, format_report
from model_tools.training.networks import build_model


def test_shipped_checkpoint_scores_its_recorded_accuracy(runs: Path, validation_split) -> None:
    best = runs / "cnn" / "checkpoint.pt"
    recorded = load_checkpoint(best).metrics
    report = evaluate_predictor(CheckpointPredictor(best), load_images("validation"))
    assert report["images"] == len(validation_split[1]) == 4119
    # Identical here; another CPU's float rounding may flip at most a borderline image or so.
    one_image = 1.0 / 4119
    assert report["accuracy"] == pytest.approx(recorded["val_accuracy"], abs=1.5 * one_image)
    assert report["accuracy_case_insensitive"] == pytest.approx(
        recorded["val_accuracy_case_insensitive"], abs=1.5 * one_image)
    assert report["model_kind"] == "checkpoint" and report["data"] == "shipped validation split"


def test_checkpoint_predictor_gives_the_networks_softmax(runs: Path, validation_split) -> None:
    predictor = CheckpointPredictor(runs / "linear" / "checkpoint.pt")
    images = to_model_input(validation_split[0][:300])
    model = load_checkpoint(runs / "linear" / "checkpoint.pt").model
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(images)), dim=1).numpy()
    np.testing.assert_allclose(predictor.predict(images), expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"expected images float32 \[N, 784\]"):
        predictor.predict(np.zeros((2, 28, 28), np.float32))


def test_a_checkpoint_with_other_labels_is_refused(tmp_path) -> None:
    labels = tuple(reversed(BYCLASS_LABELS))
    path = save_checkpoint(Checkpoint(arch="linear", model=build_model("linear"), labels=labels),
                           tmp_path / "reversed.pt")
    with pytest.raises(ValueError, match="not the 62 ByClass labels in order"):
        CheckpointPredictor(path)


class _Constant:
    """A predictor that always answers class ``answer``: the report must count exactly that."""

    kind = "constant"
    source = Path("constant")

    def __init__(self, answer: int) -> None:
        self.answer = answer

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.eye(62, dtype=np.float32)[np.full(len(images), self.answer)]


def test_report_counts_what_the_predictor_answered() -> None:
    labels = np.array([3, 3, 3, 7, 10, 36])  # three '3', one '7', 'A', 'a'
    data = LabelledImages(np.zeros((6, 28, 28), np.uint8), labels, "six images")
    report = evaluate_predictor(_Constant(3), data)
    assert report["accuracy"] == pytest.approx(3 / 6)
    assert report["support"][3] == 3 and report["recall"][3] == 1.0 and report["precision"][3] == 0.5
    text = format_report(report)
    assert "accuracy  50.00 % exact, 50.00 % case-insensitive" in text
    assert "data      six images: 6 images" in text
    assert "7->3: 1" in text and "A->3: 1" in text and "a->3: 1" in text
    with pytest.raises(ValueError, match="no images to evaluate"):
        evaluate_predictor(_Constant(3), LabelledImages(np.zeros((0, 28, 28), np.uint8), labels[:0], "none"))
