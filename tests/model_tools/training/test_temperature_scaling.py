"""``calibrate``: the temperature is the one the validation labels call for, folded into the last layer, and
the answers stay the same."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from model_tools.__main__ import main
from model_tools.data.datasets import validation_inputs
from model_tools.training.checkpoint import load_checkpoint
from model_tools.training.temperature_scaling import (
    calibrate_run,
    choose_temperature,
    negative_log_likelihood,
    parse_temperature,
    scale_logits,
)
from model_tools.training.train import predict_logits


def test_the_chosen_temperature_is_the_one_the_labels_were_drawn_with() -> None:
    """Labels drawn from softmax(logits / T0): the likelihood is highest near T0, for T0 either side of 1."""
    rng = np.random.default_rng(4)
    logits = rng.normal(0.0, 3.0, size=(20_000, 10))
    for true_temperature in (0.6, 2.0):
        probabilities = np.exp(logits / true_temperature)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        labels = (probabilities.cumsum(axis=1) > rng.random((len(logits), 1))).argmax(axis=1)
        chosen = choose_temperature(logits, labels)
        assert chosen == pytest.approx(true_temperature, rel=0.1)
        assert negative_log_likelihood(logits, labels, chosen) < negative_log_likelihood(logits, labels, 1.0)


def test_scaling_divides_the_logits_and_keeps_the_answers(repo) -> None:
    model = load_checkpoint(repo / "runs" / "dnn" / "checkpoint.pt").model
    images, _ = validation_inputs(limit=300)
    x = torch.from_numpy(images)
    before = predict_logits(model, x)
    scale_logits(model, 2.5)
    after = predict_logits(model, x)
    torch.testing.assert_close(after, before / 2.5, rtol=1e-5, atol=1e-5)
    assert torch.equal(after.argmax(1), before.argmax(1))
    with pytest.raises(ValueError, match="positive"):
        scale_logits(model, 0.0)


def test_a_calibrated_run_records_its_temperature_and_answers_as_before(repo, tmp_path) -> None:
    run = repo / "runs" / "linear"
    original = json.loads((run / "metrics.json").read_text())
    metrics = calibrate_run(run, tmp_path / "calibrated")
    scaled = metrics["temperature_scaling"]
    assert scaled["chosen_on"] == "validation" and 0.25 <= scaled["temperature"] <= 4
    assert scaled["validation_nll"]["after"] <= scaled["validation_nll"]["before"]
    assert metrics["summary"]["val_accuracy"] == original["summary"]["val_accuracy"]
    assert metrics["validation"]["confusion_matrix"] == original["validation"]["confusion_matrix"]
    images, _ = validation_inputs(limit=200)
    x = torch.from_numpy(images)
    torch.testing.assert_close(
        predict_logits(load_checkpoint(tmp_path / "calibrated" / "checkpoint.pt").model, x),
        predict_logits(load_checkpoint(run / "checkpoint.pt").model, x) / scaled["temperature"],
        rtol=1e-5, atol=1e-5)


def test_the_command_and_its_refusals(repo, tmp_path, capsys) -> None:
    run = repo / "runs" / "linear"
    assert main(["calibrate", str(run), "--out", str(tmp_path / "given"), "--temperature", "1.5"]) == 0
    assert "temperature 1.5 (given)" in capsys.readouterr().out
    given = json.loads((tmp_path / "given" / "metrics.json").read_text())["temperature_scaling"]
    assert given["temperature"] == 1.5 and given["chosen_on"] == "given"
    assert main(["calibrate", str(run), "--out", str(run)]) == 2
    assert main(["calibrate", str(run), "--out", str(tmp_path / "bad"), "--temperature", "-1"]) == 2
    assert "temperature must be in (0, 100]" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert parse_temperature(None) == (False, None) and parse_temperature("auto") == (True, None)
    assert parse_temperature("0.8") == (True, 0.8)
    for text in ("hot", "0", "-2"):
        with pytest.raises(ValueError, match="--temperature"):
            parse_temperature(text)
