"""``pipeline --prior``: the new version serves the logit-adjusted model and says which prior it serves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emnist_contract.labels import NUM_CLASSES
from model_tools.__main__ import main
from model_tools.data.datasets import validation_inputs
from model_tools.export.model_forms import load_predictor
from model_tools.training.checkpoint import load_checkpoint
from model_tools.training.logit_adjustment import adjustment, training_class_mix


def test_pipeline_serves_the_adjusted_model_and_names_its_prior(tmp_path, repo, capsys) -> None:
    run = repo / "runs" / "linear"
    assert main(["pipeline", str(run), "--name", "lin", "--base", str(tmp_path), "--limit", "100",
                 "--prior", "uniform", "--tau", "1"]) == 0
    version = tmp_path / "lin" / "1"
    info = json.loads((version / "assets.extra" / "model_info.json").read_text())
    assert info["class_prior"]["prior"] == "uniform" and info["class_prior"]["tau"] == 1.0
    assert info["source"] == "runs/linear/metrics.json, logit-adjusted to the uniform prior"
    assert not (repo / "runs" / "linear" / "adjusted").exists()
    # The served scores are the softmax of the run's logits plus the adjustment, computed here in numpy.
    images, _ = validation_inputs(limit=200)
    model = load_checkpoint(run / "checkpoint.pt").model
    weight, bias = (p.detach().numpy().astype(np.float64) for p in (model.fc.weight, model.fc.bias))
    fitted, _ = training_class_mix(json.loads((run / "metrics.json").read_text())["config"])
    logits = images @ weight.T + bias + adjustment(fitted, np.full(NUM_CLASSES, 1 / NUM_CLASSES), 1.0)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    for form in (version, version / "model.onnx"):
        np.testing.assert_allclose(load_predictor(form).predict(images), expected, atol=1e-5)


def test_tau_without_a_prior_is_refused(tmp_path, repo, capsys) -> None:
    assert main(["pipeline", str(repo / "runs" / "linear"), "--name", "lin", "--base", str(tmp_path),
                 "--tau", "1"]) == 2
    assert "--tau needs --prior" in capsys.readouterr().err
    assert not (tmp_path / "lin").exists()


@pytest.mark.parametrize("prior", ["zipf"])
def test_an_unknown_prior_is_refused_by_the_parser(tmp_path, repo, prior, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["pipeline", str(repo / "runs" / "linear"), "--name", "lin", "--base", str(tmp_path),
              "--prior", prior])
    assert stopped.value.code == 2 and "invalid choice" in capsys.readouterr().err
