"""``pipeline --temperature``: the new version serves the calibrated scores and says by which temperature."""

from __future__ import annotations

import json

import numpy as np

from model_tools.__main__ import main
from model_tools.data.datasets import validation_inputs
from model_tools.export.model_forms import load_predictor
from model_tools.training.checkpoint import load_checkpoint


def test_pipeline_serves_the_calibrated_model_and_names_its_temperature(tmp_path, repo) -> None:
    run = repo / "runs" / "linear"
    assert main(["pipeline", str(run), "--name", "lin", "--base", str(tmp_path), "--limit", "100",
                 "--temperature", "2"]) == 0
    version = tmp_path / "lin" / "1"
    info = json.loads((version / "assets.extra" / "model_info.json").read_text())
    assert info["calibration"]["temperature"] == 2.0 and "given" in info["calibration"]["how"]
    assert info["source"] == "runs/linear/metrics.json, temperature-scaled (T 2)"
    assert info["class_prior"]["prior"] == "byclass"  # the run's own prior, kept
    images, _ = validation_inputs(limit=200)
    model = load_checkpoint(run / "checkpoint.pt").model
    weight, bias = (p.detach().numpy().astype(np.float64) for p in (model.fc.weight, model.fc.bias))
    logits = (images @ weight.T + bias) / 2.0
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    for form in (version, version / "model.onnx"):
        np.testing.assert_allclose(load_predictor(form).predict(images), expected, atol=1e-5)


def test_a_bad_temperature_is_refused_before_anything_is_written(tmp_path, repo, capsys) -> None:
    assert main(["pipeline", str(repo / "runs" / "linear"), "--name", "lin", "--base", str(tmp_path),
                 "--temperature", "warm"]) == 2
    assert "--temperature 'warm'" in capsys.readouterr().err
    assert not (tmp_path / "lin").exists()
