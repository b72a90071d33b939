"""Training: it learns, it is reproducible for a seed, and its outputs and errors are what they claim."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from model_tools.__main__ import main
from model_tools.data.datasets import load_split
from model_tools.training.checkpoint import load_checkpoint
from model_tools.training.train import TrainConfig, train


def test_short_training_lowers_the_loss(train_slice, validation_slice, tmp_path) -> None:
    config = TrainConfig(arch="dnn", epochs=4, eval_every=8, seed=3)
    result = train(config, train_slice, validation_slice, tmp_path, progress=False)
    curves = result.metrics["curves"]
    assert curves["train_loss"][-1] < 0.7 * curves["train_loss"][0]
    assert min(curves["val_loss"]) < curves["val_loss"][0]
    assert result.metrics["best"]["val_accuracy"] > 0.3  # chance is < 0.1
    assert result.checkpoint_path.is_file() and result.metrics_path.is_file()


def _run(config: TrainConfig, data, validation, out: Path) -> tuple[dict, dict]:
    result = train(config, data, validation, out, progress=False)
    return result.metrics, load_checkpoint(result.checkpoint_path).model.state_dict()


def test_same_seed_gives_identical_metrics_and_weights(train_slice, validation_slice, tmp_path) -> None:
    """The CNN with augmentation and class weights: every random draw must come from the seed."""
    config = dict(arch="cnn", epochs=1, eval_every=1, augment=True, train_limit=256,
                  class_weights="inverse-frequency")
    validation = (validation_slice[0][:128], validation_slice[1][:128])
    runs = [_run(TrainConfig(seed=seed, **config), train_slice, validation, tmp_path / str(index))
            for index, seed in enumerate((7, 7, 8))]
    (first, first_weights), (second, second_weights), (other, _) = runs
    assert first["curves"] == second["curves"]
    assert first["validation"] == second["validation"]
    for name, tensor in first_weights.items():
        assert torch.equal(tensor, second_weights[name]), name
    assert other["curves"]["train_loss"] != first["curves"]["train_loss"]


@pytest.mark.parametrize("mixing", ["mixup", "cutmix"])
def test_mixing_trains_reproducibly_and_leaves_other_draws_alone(mixing, train_slice, validation_slice,
                                                                 tmp_path) -> None:
    """A ResNet with augmentation, per-image weights and mixing: the same seed gives the same run, and
    the mixed run differs from the unmixed one (the mixing is applied) while both learn."""
    config = dict(arch="resnet", epochs=2, eval_every=2, augment=True, train_limit=256,
                  class_weights="byclass-mix", class_weight_power=0.5, mixing_alpha=0.4)
    validation = (validation_slice[0][:128], validation_slice[1][:128])
    runs = [_run(TrainConfig(seed=5, mixing=mode, **config), train_slice, validation, tmp_path / str(i))
            for i, mode in enumerate((mixing, mixing, "none"))]
    (first, first_weights), (second, second_weights), (plain, plain_weights) = runs
    assert first["curves"] == second["curves"]
    assert all(torch.equal(first_weights[k], second_weights[k]) for k in first_weights)
    assert first["config"]["mixing"] == mixing and plain["config"]["mixing"] == "none"
    assert not all(torch.equal(first_weights[k], plain_weights[k]) for k in first_weights)
    for run in (first, plain):
        assert run["curves"]["train_loss"][-1] < run["curves"]["train_loss"][0]


def test_weight_average_is_what_is_validated_and_kept(train_slice, validation_slice, tmp_path) -> None:
    """A CNN (batch-norm buffers too) over two steps, validated once at the end: an average that forgets
    at once is the last step's network, buffers included; a slower one is another network, and the kept
    checkpoint is the one validation scored."""
    config = dict(arch="cnn", epochs=1, eval_every=100, augment=True, train_limit=256, seed=4)
    validation = (validation_slice[0][:128], validation_slice[1][:128])
    (plain, plain_weights), (instant, instant_weights), (slow, slow_weights) = [
        _run(TrainConfig(ema_decay=decay, **config), train_slice, validation, tmp_path / str(i))
        for i, decay in enumerate((0.0, 1e-9, 0.5))]
    assert plain["total_steps"] == 2 and slow["config"]["ema_decay"] == 0.5
    buffers = [k for k in plain_weights if "running_mean" in k]
    assert buffers
    for name, tensor in plain_weights.items():
        assert torch.allclose(instant_weights[name].float(), tensor.float(), atol=1e-6), name
    assert not all(torch.allclose(slow_weights[k].float(), plain_weights[k].float()) for k in buffers)
    assert not all(torch.allclose(slow_weights[k], plain_weights[k]) for k in plain_weights
                   if k.endswith("weight"))
    for run in (plain, slow):
        assert run["validation"]["accuracy"] == pytest.approx(run["best"]["val_accuracy"])


def test_other_widths_are_trained_kept_and_loaded(train_slice, validation_slice,
                                                                     tmp_path) -> None:
    config = TrainConfig(arch="resnet", epochs=1, eval_every=100, train_limit=128, widths=[8, 16, 24])
    result = train(config, train_slice, (validation_slice[0][:64], validation_slice[1][:64]), tmp_path,
                   progress=False)
    loaded = load_checkpoint(result.checkpoint_path)
    assert loaded.arch_kwargs == {"widths": (8, 16, 24)} and result.metrics["config"]["widths"] == [8, 16, 24]
    assert loaded.model.head[-1].in_features == 24
    assert sum(p.numel() for p in loaded.model.parameters()) == result.metrics["summary"]["parameters"]
    cnn = TrainConfig(arch="cnn", epochs=1, eval_every=100, train_limit=128, widths=[8, 12])
    result = train(cnn, train_slice, (validation_slice[0][:64], validation_slice[1][:64]), tmp_path / "cnn",
                   progress=False)
    assert load_checkpoint(result.checkpoint_path).model.head[2].in_features == 12 * 7 * 7


def test_metrics_json_describes_the_run(train_slice, validation_slice, tmp_path) -> None:
    config = TrainConfig(arch="linear", epochs=2, eval_every=5, seed=0)
    metrics = train(config, train_slice, validation_slice, tmp_path, test_data=validation_slice,
                    progress=False).metrics
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["summary"] == metrics["summary"]
    assert on_disk["config"]["arch"] == "linear" and on_disk["config"]["seed"] == 0
    steps = on_disk["curves"]["step"]
    assert steps == sorted(steps) and steps[-1] == on_disk["total_steps"] == 2 * 8
    assert on_disk["best"]["step"] in steps
    assert on_disk["best"]["val_accuracy"] == max(on_disk["curves"]["val_accuracy"])
    report = on_disk["validation"]
    assert np.asarray(report["confusion_matrix"]).shape == (NUM_CLASSES, NUM_CLASSES)
    assert np.asarray(report["confusion_matrix"]).sum() == len(validation_slice[1])
    assert list(on_disk["per_class_accuracy"]) == list(BYCLASS_LABELS)
    # The kept model is the best one: rescoring it reproduces the recorded accuracy.
    assert report["accuracy"] == pytest.approx(on_disk["best"]["val_accuracy"])
    assert on_disk["test"]["accuracy"] == report["accuracy"]  # same images given as "test"
    absent = set(on_disk["classes_without_training_images"])
    assert {"j", "q", "x", "y", "z", "J", "Q", "X", "Y", "Z"} <= absent
    assert load_checkpoint(tmp_path / "checkpoint.pt").metrics == metrics["summary"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arch": "transformer"}, "unknown architecture"),
        ({"mixing": "blend"}, "--mixing must be one of"),
        ({"mixing": "mixup", "mixing_alpha": 0.0}, "--mixing-alpha"),
        ({"class_weights": "balanced"}, "class-weights"),
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"ema_decay": 1.0}, "--ema must be in"),
        ({"train_fraction": 0.0}, "--train-fraction must be in"),
        ({"train_fraction": 1.5}, "--train-fraction must be in"),
        ({"widths": [8, 16, 24]}, "--widths takes a positive"),
        ({"arch": "resnet", "widths": [8, 16]}, "--widths takes a positive"),
        ({"arch": "cnn", "widths": [8, 0]}, "--widths takes a positive"),
    ],
)
def test_bad_config_is_refused(change, message, train_slice, validation_slice, tmp_path) -> None:
    config = TrainConfig(**{"arch": "linear", **change})
    with pytest.raises(ValueError, match=message):
        train(config, train_slice, validation_slice, tmp_path, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_train_command_writes_the_run_folder(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["train", "--arch", "linear", "--epochs", "1", "--train-limit", "256", "--eval-every", "1",
                 "--no-test", "--out", str(out)])
    assert code == 0
    for name in ("checkpoint.pt", "metrics.json", "learning_curve.png", "confusion_matrix.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "val accuracy" in capsys.readouterr().out
    config = json.loads((out / "metrics.json").read_text())["config"]
    assert config["augment"] is False and config["train_limit"] == 256


def test_train_command_trains_on_a_share_of_every_class(tmp_path, caplog) -> None:
    _, labels = load_split("train")
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    kept = int(np.where(counts > 0, np.maximum(1, np.round(0.1 * counts)), 0).sum())
    out = tmp_path / "tenth"
    with caplog.at_level("INFO", logger="model_tools.training.train_command"):
        assert main(["train", "--arch", "linear", "--epochs", "1", "--train-fraction", "0.1", "--eval-every",
                     "5", "--no-test", "--out", str(out)]) == 0
    assert f"(10 % of every class's images: {kept:,})" in caplog.text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_images_real"] == kept and metrics["config"]["train_fraction"] == 0.1
    unseen = [BYCLASS_LABELS[i] for i in np.flatnonzero(counts == 0)]
    assert metrics["classes_without_training_images"] == unseen


def test_train_command_rejects_bad_options(tmp_path) -> None:
    assert main(["train", "--arch", "linear", "--epochs", "0", "--out", str(tmp_path / "x")]) == 2
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    assert main(["train", "--arch", "linear", "--out", str(not_a_folder)]) == 2
    with pytest.raises(SystemExit):
        main(["train", "--arch", "svm", "--out", str(tmp_path / "y")])
