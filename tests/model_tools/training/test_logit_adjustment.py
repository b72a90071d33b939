"""``logit-adjust``: the adjustment, the choice of tau, the training mix of a run, the command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES, char_to_label
from model_tools.__main__ import main
from model_tools.data.datasets import load_split, to_model_input
from model_tools.training.checkpoint import load_checkpoint
from model_tools.training.image_pool import training_rows
from model_tools.training.logit_adjustment import (
    TAU_GRID,
    adjustment,
    choose_tau,
    target_mix,
    tau_keeping_byclass,
    training_class_mix,
)
from model_tools.training.metrics import byclass_frequencies, prior_weighted_accuracy
from tests.support.paths import REPO

UPPER_C, LOWER_C = char_to_label("C"), char_to_label("c")


def _mix(upper: float, lower: float) -> np.ndarray:
    mix = np.full(NUM_CLASSES, (1 - upper - lower) / (NUM_CLASSES - 2))
    mix[UPPER_C], mix[LOWER_C] = upper, lower
    return mix


def test_the_adjustment_is_tau_times_the_log_ratio_of_the_mixes() -> None:
    train, target = _mix(0.08, 0.02), np.full(NUM_CLASSES, 1 / NUM_CLASSES)
    assert np.allclose(adjustment(train, target, 0.0), 0)
    assert np.allclose(adjustment(train, train, 1.0), 0)
    shift = adjustment(train, target, 0.5)
    # Differences between classes are what moves an argmax or a softmax: 0.5 * log(0.08 / 0.02).
    assert shift[LOWER_C] - shift[UPPER_C] == pytest.approx(0.5 * np.log(4.0))
    assert shift.mean() == pytest.approx(0.0, abs=1e-12)
    # With tau = 1 the softmax's prior becomes the target's: softmax(log train + shift) is uniform.
    prior = np.exp(np.log(train) + adjustment(train, target, 1.0))
    assert np.allclose(prior / prior.sum(), target)
    untrained = train.copy()
    untrained[LOWER_C] = 0.0
    assert adjustment(untrained, target, 1.0)[LOWER_C] == 0.0  # no training mass: nothing to move by


def test_tau_is_the_smallest_that_scores_best_on_the_target_mix() -> None:
    # Ten C images read C by a margin of 1.0, ten c images read C by 0.5. Train mix C:c = 4:1, so the
    # adjustment to a uniform mix lifts c by tau * log 4 = 1.386 tau: the c images turn at tau > 0.36,
    # the C images at tau > 0.72. Best under a uniform mix: 0.4 to 0.7, and the smallest is kept.
    logits = np.full((20, NUM_CLASSES), -50.0)
    logits[:, UPPER_C] = 5.0
    logits[:10, LOWER_C] = 4.0
    logits[10:, LOWER_C] = 4.5
    labels = np.array([UPPER_C] * 10 + [LOWER_C] * 10)
    train, uniform = _mix(0.08, 0.02), np.full(NUM_CLASSES, 1 / NUM_CLASSES)
    tau, scores = choose_tau(logits, labels, train, uniform)
    assert tau == 0.4
    assert set(scores) == set(TAU_GRID)
    assert scores[0.0] == pytest.approx(0.5) and scores[0.4] == pytest.approx(1.0)
    assert scores[0.8] == pytest.approx(0.5)
    # Scored on the training mix itself, no adjustment is better than none.
    assert choose_tau(logits, labels, train, train)[0] == 0.0


def test_keep_byclass_walks_up_until_the_byclass_mix_drops() -> None:
    # Train and ByClass mix C:c = 4:1; towards a uniform mix c rises by tau * log 4 = 1.386 tau against C.
    # Five c images read C by 0.1 (they turn at tau 0.1), five by 0.3 (at tau 0.3), ten C images read C by
    # 0.5 (they turn to c at tau 0.4). ByClass score: 0.8 at tau 0, 0.9 at 0.1 and 0.2, 1.0 at 0.3, 0.2 at
    # 0.4: the walk keeps 0.3 and stops there.
    logits = np.full((20, NUM_CLASSES), -50.0)
    logits[:, UPPER_C] = 5.0
    logits[:5, LOWER_C], logits[5:10, LOWER_C], logits[10:, LOWER_C] = 4.9, 4.7, 4.5
    labels = np.array([LOWER_C] * 10 + [UPPER_C] * 10)
    mix, uniform = _mix(0.08, 0.02), np.full(NUM_CLASSES, 1 / NUM_CLASSES)
    tau, scores = tau_keeping_byclass(logits, labels, mix, uniform, mix)
    assert tau == 0.3
    assert list(scores) == [0.0, 0.1, 0.2, 0.3, 0.4]  # no tau past the first that costs is tried
    assert scores[0.0] == pytest.approx(0.8) and scores[0.3] == pytest.approx(1.0)
    assert scores[0.4] < scores[0.0]
    # When the first step already costs, the model stays as trained.
    logits[10:, LOWER_C] = 4.95  # the C images turn at tau 0.1 too
    assert tau_keeping_byclass(logits, labels, mix, uniform, mix)[0] == 0.0


def test_the_training_mix_of_the_bundled_runs() -> None:
    metrics = json.loads((REPO / "runs" / "cnn62" / "metrics.json").read_text())
    config = metrics["config"]
    fitted, pool = training_class_mix(config)
    # byclass-mix weights with the drawn letters at NIST's shares: the loss fits NIST's mix.
    np.testing.assert_allclose(fitted, byclass_frequencies(), atol=1e-7)
    # The pool mix: the real images' counts and the drawings of the ten letters, as the run counted them.
    _, labels = load_split("train")
    total = metrics["train_images_real"] + metrics["train_images_synthetic"]
    assert len(labels) == metrics["train_images_real"]
    np.testing.assert_allclose(pool, np.bincount(labels, minlength=NUM_CLASSES) / total,
                               atol=metrics["train_images_synthetic"] / total)
    drawn = [char_to_label(c) for c in metrics["classes_from_synthetic_images"]]
    assert pool[drawn].sum() == pytest.approx(metrics["train_images_synthetic"] / total)
    unweighted, pool_alone = training_class_mix({**config, "class_weights": "none", "synthetic": None})
    np.testing.assert_allclose(unweighted, np.bincount(labels, minlength=NUM_CLASSES) / len(labels))
    np.testing.assert_allclose(unweighted, pool_alone)
    # A run on a share of the pool fitted that share's mix, drawn as the run drew it.
    half = labels[training_rows(labels, 0.5, None, config["seed"])]
    plain_half = {**config, "class_weights": "none", "synthetic": None, "train_fraction": 0.5}
    _, pool_half = training_class_mix(plain_half)
    np.testing.assert_allclose(pool_half, np.bincount(half, minlength=NUM_CLASSES) / len(half))
    assert not np.allclose(pool_half, pool_alone)
    with pytest.raises(ValueError, match="not rebuilt"):
        training_class_mix({**config, "data": "downloads/emnist"})
    assert target_mix("uniform", pool).sum() == pytest.approx(1.0)
    assert np.allclose(target_mix("train", pool), pool)
    assert np.allclose(target_mix("byclass", pool), byclass_frequencies())
    with pytest.raises(ValueError, match="unknown prior"):
        target_mix("zipf", pool)


def test_the_command_moves_the_bias_and_measures_again(tmp_path, capsys) -> None:
    run, out = REPO / "runs" / "linear", tmp_path / "linear-uniform"
    assert main(["logit-adjust", str(run), "--prior", "uniform", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    adjusted = metrics["logit_adjustment"]
    assert adjusted["prior"] == "uniform" and adjusted["chosen_on"] == "validation"
    assert f"prior uniform, tau {adjusted['tau']:g} (validation)" in printed
    scores = adjusted["validation_score_by_tau"]
    assert len(scores) == len(TAU_GRID) and scores[f"{adjusted['tau']:g}"] == max(scores.values())
    source, shifted = load_checkpoint(run / "checkpoint.pt"), load_checkpoint(out / "checkpoint.pt")
    fitted, _ = training_class_mix(json.loads((run / "metrics.json").read_text())["config"])
    expected = adjustment(fitted, np.full(NUM_CLASSES, 1 / NUM_CLASSES), adjusted["tau"])
    delta = shifted.model.fc.bias.detach().numpy() - source.model.fc.bias.detach().numpy()
    np.testing.assert_allclose(delta, expected, atol=1e-5)
    assert [adjusted["offsets"][c] for c in BYCLASS_LABELS] == pytest.approx(expected, abs=1e-6)
    images, labels = load_split("validation")
    weight, bias = (p.detach().numpy() for p in (shifted.model.fc.weight, shifted.model.fc.bias))
    predictions = (to_model_input(images) @ weight.T + bias).argmax(1)
    assert metrics["validation"]["accuracy"] == pytest.approx(float((predictions == labels).mean()), abs=1e-9)
    uniform = np.full(NUM_CLASSES, 1 / NUM_CLASSES)
    assert scores[f"{adjusted['tau']:g}"] == pytest.approx(
        prior_weighted_accuracy(labels, predictions, uniform), abs=1e-9)
    assert metrics["checkpoint_sha256"] == shifted.sha256


def test_the_command_keeps_the_byclass_mix_when_asked(tmp_path, capsys) -> None:
    run, out = REPO / "runs" / "linear", tmp_path / "linear-train"
    assert main(["logit-adjust", str(run), "--prior", "train", "--tau-rule", "keep-byclass", "--out",
                 str(out)]) == 0
    adjusted = json.loads((out / "metrics.json").read_text())["logit_adjustment"]
    assert adjusted["chosen_on"] == "validation" and adjusted["tau_rule"] == "keep-byclass"
    assert "ByClass mix" in adjusted["rule"]
    scores = adjusted["validation_score_by_tau"]  # the ByClass-mix scores of the walk, in grid order
    taus = [float(t) for t in scores]
    assert taus == list(TAU_GRID[:len(taus)])
    assert all(scores[f"{t:g}"] >= scores["0"] for t in taus if t <= adjusted["tau"])
    if adjusted["tau"] < TAU_GRID[-1]:  # the walk ended on the first tau that costs
        assert taus[-1] > adjusted["tau"] and scores[f"{taus[-1]:g}"] < scores["0"]
    with pytest.raises(SystemExit) as refused:
        main(["logit-adjust", str(run), "--prior", "train", "--tau-rule", "widest", "--out",
              str(tmp_path / "x")])
    assert refused.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_command_refusals(tmp_path, capsys) -> None:
    run = REPO / "runs" / "linear"
    assert main(["logit-adjust", str(run), "--prior", "uniform", "--out", str(run)]) == 2
    assert "--out must be a new folder" in capsys.readouterr().err
    assert main(["logit-adjust", str(run), "--prior", "uniform", "--tau", "-1", "--out",
                 str(tmp_path / "x")]) == 2
    assert "tau must be between 0 and 10" in capsys.readouterr().err
    assert main(["logit-adjust", str(tmp_path), "--prior", "byclass", "--out", str(tmp_path / "y")]) == 2
    assert "not a training run folder" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
