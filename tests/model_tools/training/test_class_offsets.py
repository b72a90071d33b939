"""``class-offsets``: the offset rule, the offset model's logits, and the command on a shipped run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emnist_contract.labels import NUM_CLASSES, char_to_label
from model_tools.__main__ import main
from model_tools.data.datasets import load_split, to_model_input
from model_tools.training.checkpoint import load_checkpoint
from model_tools.training.class_offsets import apply_offsets, choose_offsets
from model_tools.training.networks import build_model
from tests.support.paths import REPO

UPPER_C, LOWER_C, ZERO = char_to_label("C"), char_to_label("c"), char_to_label("0")


def _twins(upper_margin: float, lower_margin: float, count: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Logits of ``count`` C images and ``count`` c images that the model all reads as C: the C images
    by ``upper_margin``, the c images by ``lower_margin``."""
    logits = np.zeros((2 * count, NUM_CLASSES))
    logits[:, UPPER_C] = 5.0
    logits[:count, LOWER_C] = 5.0 - upper_margin
    logits[count:, LOWER_C] = 5.0 - lower_margin
    return logits, np.array([UPPER_C] * count + [LOWER_C] * count)


def _prior(upper: float, lower: float) -> np.ndarray:
    prior = np.full(NUM_CLASSES, 1e-3)
    prior[UPPER_C], prior[LOWER_C] = upper, lower
    return prior


def test_the_offset_is_the_largest_step_that_keeps_the_mix_accuracy():
    logits, labels = _twins(upper_margin=1.9, lower_margin=0.6)
    # +0.75 turns every c image to c (accuracy up); the C images turn at +2.0 (down): 1.75 is the last
    # step that keeps it.
    offsets = choose_offsets(logits, labels, [LOWER_C], _prior(0.06, 0.04))
    assert offsets[LOWER_C] == 1.75
    assert np.count_nonzero(offsets) == 1
    assert ((logits + offsets).argmax(1) == labels).all()


def test_no_offset_trades_a_frequent_class_for_a_rare_one():
    # NIST's mix: C is 5x as frequent as c, and the C images turn at +1.25, before the c images (+1.5):
    # the offset stays at +1.0, where c is still never given, rather than trade C for c.
    logits, labels = _twins(upper_margin=1.1, lower_margin=1.3)
    offsets = choose_offsets(logits, labels, [LOWER_C], _prior(0.05, 0.01))
    assert offsets[LOWER_C] == 1.0
    assert ((logits + offsets).argmax(1) == UPPER_C).all()


def test_a_small_dip_does_not_hide_a_larger_offset_that_wins():
    # Ten c images turn at +0.5 and one frequent-class image (C) at +0.25 already: +0.25 costs a little,
    # +0.5 more than wins it back, and +0.75 turns the C images too.
    logits, labels = _twins(upper_margin=0.6, lower_margin=0.4)
    logits[0, LOWER_C] = 5.0 - 0.1
    offsets = choose_offsets(logits, labels, [LOWER_C], _prior(0.05, 0.03))
    assert offsets[LOWER_C] == 0.5


def test_the_offsets_are_added_to_the_logits_and_nothing_else_changes():
    torch.manual_seed(0)
    model = build_model("cnn").eval()
    images = torch.from_numpy(to_model_input(load_split("validation")[0][:16]))
    with torch.no_grad():
        before = model(images).numpy()
    offsets = np.zeros(NUM_CLASSES)
    offsets[[LOWER_C, ZERO]] = [0.75, -1.5]
    apply_offsets(model, offsets)
    with torch.no_grad():
        after = model(images).numpy()
    np.testing.assert_allclose(after - before, np.broadcast_to(offsets, before.shape), atol=1e-5)


def test_the_command_writes_a_new_run_with_its_reports_measured_again(tmp_path, capsys):
    run = REPO / "runs" / "linear"
    out = tmp_path / "linear-offsets"
    assert main(["class-offsets", str(run), "--classes", "c,o", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    offsets = metrics["class_offsets"]["offsets"]
    assert set(offsets) == {"c", "o"} and f"offsets: c +{offsets['c']:g}, o +{offsets['o']:g}" in printed
    source, shifted = load_checkpoint(run / "checkpoint.pt"), load_checkpoint(out / "checkpoint.pt")
    expected = np.zeros(NUM_CLASSES)
    expected[[LOWER_C, char_to_label("o")]] = [offsets["c"], offsets["o"]]
    np.testing.assert_allclose(shifted.model.fc.bias.detach().numpy() - source.model.fc.bias.detach().numpy(),
                               expected, atol=1e-6)
    # The validation figures are those of the new model, computed here with numpy from its weights.
    images, labels = load_split("validation")
    weight, bias = (p.detach().numpy() for p in (shifted.model.fc.weight, shifted.model.fc.bias))
    accuracy = float(((to_model_input(images) @ weight.T + bias).argmax(1) == labels).mean())
    assert metrics["summary"]["val_accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert metrics["validation"]["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert metrics["checkpoint_sha256"] == shifted.sha256
    assert (run / "metrics.json").read_text() != (out / "metrics.json").read_text()


def test_the_command_refuses_to_overwrite_its_run(capsys):
    run = REPO / "runs" / "linear"
    assert main(["class-offsets", str(run), "--out", str(run)]) == 2
    assert "--out must be a new folder" in capsys.readouterr().err
