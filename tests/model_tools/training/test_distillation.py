"""Distillation (``train --teacher``): the soft target is the teachers' mean softened softmax, the loss is
zero when the student already answers it, and a run with teachers is recorded, reproduced and learns them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from model_tools.__main__ import main
from model_tools.common.hashing import file_sha256
from model_tools.data.datasets import to_model_input
from model_tools.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model_tools.training.distillation import TeacherEnsemble, distillation_loss, load_teacher
from model_tools.training.networks import build_model
from model_tools.training.train import TrainConfig, predict_logits, train


@pytest.fixture(scope="module")
def linear_teacher(tmp_path_factory) -> Path:
    """A linear classifier with random weights (seed 11), saved as a training checkpoint."""
    torch.manual_seed(11)
    model = build_model("linear")
    with torch.no_grad():
        model.fc.weight.mul_(20.0)  # confident, varied answers: something definite to learn
    return save_checkpoint(Checkpoint(arch="linear", model=model),
                           tmp_path_factory.mktemp("teacher") / "checkpoint.pt")


@pytest.fixture(scope="module")
def onnx_teacher(repo: Path) -> Path:
    return repo / "models" / "emnist" / "1" / "model.onnx"


def test_the_loss_is_zero_when_the_student_answers_the_target() -> None:
    logits = torch.randn(32, 62, generator=torch.Generator().manual_seed(0)) * 3
    for temperature in (1.0, 2.0, 4.0):
        target = torch.softmax(logits / temperature, dim=1)
        assert float(distillation_loss(logits, target, temperature)) == pytest.approx(0.0, abs=1e-5)
        other = torch.softmax(logits.flip(0) / temperature, dim=1)
        assert float(distillation_loss(logits, other, temperature)) > 0.1


def test_the_soft_target_is_the_mean_of_the_teachers_softened_softmax(linear_teacher, onnx_teacher,
                                                                      validation_slice) -> None:
    images = to_model_input(validation_slice[0][:64])
    x = torch.from_numpy(images)
    model = load_checkpoint(linear_teacher).model
    with torch.no_grad():
        linear_logits = model(x).double()
    onnx_scores = ort.InferenceSession(str(onnx_teacher), providers=["CPUExecutionProvider"]).run(
        ["scores"], {"images": images})[0].astype(np.float64)
    ensemble = TeacherEnsemble.load([linear_teacher, onnx_teacher])
    for temperature in (1.0, 3.0):
        expected = (torch.softmax(linear_logits / temperature, dim=1).numpy()
                    + torch.softmax(torch.log(torch.from_numpy(onnx_scores).clamp_min(1e-30)) / temperature,
                                    dim=1).numpy()) / 2
        target = ensemble.soft_target(x, temperature).numpy()
        np.testing.assert_allclose(target, expected, atol=2e-6)
        np.testing.assert_allclose(target.sum(axis=1), 1.0, atol=1e-5)
    # At T = 1 the target is the plain ensemble: the mean of the members' softmax scores.
    np.testing.assert_allclose(ensemble.soft_target(x, 1.0).numpy(),
                               (torch.softmax(linear_logits, 1).numpy() + onnx_scores) / 2, atol=2e-6)
    assert ensemble.sha256() == [file_sha256(linear_teacher), file_sha256(onnx_teacher)]


def _agreement(model, teacher: Path, validation) -> float:
    x = torch.from_numpy(to_model_input(validation[0]))
    ours = predict_logits(model, x).argmax(1)
    theirs = TeacherEnsemble([load_teacher(teacher)]).soft_target(x, 1.0).argmax(1)
    return float((ours == theirs).double().mean())


def test_a_run_with_teachers_is_recorded_reproduced_and_learns_them(linear_teacher, onnx_teacher, train_slice,
                                                                   validation_slice, tmp_path) -> None:
    common = dict(arch="linear", epochs=3, eval_every=8, train_limit=1024, seed=2)
    teachers = [str(linear_teacher), str(onnx_teacher)]
    runs = []
    for index, extra in enumerate(({"teachers": teachers}, {"teachers": teachers}, {})):
        result = train(TrainConfig(**common, **extra), train_slice, validation_slice, tmp_path / str(index),
                       progress=False)
        runs.append((result.metrics, load_checkpoint(result.checkpoint_path)))
    (first, first_checkpoint), (second, second_checkpoint), (plain, _) = runs
    assert first["curves"] == second["curves"] and first["validation"] == second["validation"]
    first_weights, second_weights = first_checkpoint.model.state_dict(), second_checkpoint.model.state_dict()
    assert all(torch.equal(first_weights[k], second_weights[k]) for k in first_weights)
    assert first["curves"]["train_loss"] != plain["curves"]["train_loss"]
    on_disk = json.loads((tmp_path / "0" / "metrics.json").read_text())["config"]
    for config in (on_disk, first_checkpoint.config):
        assert config["teachers"] == teachers
        assert config["distill_weight"] == 0.5 and config["distill_temperature"] == 2.0
        assert config["teacher_sha256"] == [file_sha256(linear_teacher), file_sha256(onnx_teacher)]
    assert plain["config"]["teachers"] == [] and "teacher_sha256" not in plain["config"]

    # Taught by the random linear teacher alone (weight 1: no labels), the student answers as it does.
    config = TrainConfig(**{**common, "epochs": 10}, lr=1e-2, teachers=[str(linear_teacher)],
                         distill_weight=1.0, distill_temperature=1.0)
    student = load_checkpoint(train(config, train_slice, validation_slice, tmp_path / "student",
                                    progress=False).checkpoint_path).model
    plain_model = runs[2][1].model
    learned, chance = (_agreement(m, linear_teacher, validation_slice) for m in (student, plain_model))
    assert learned > 0.4 and chance < 0.2, (learned, chance)


@pytest.mark.parametrize("change, message", [
    ({"distill_weight": 0.0}, "--distill-weight"),
    ({"distill_weight": 1.5}, "--distill-weight"),
    ({"distill_temperature": 0.0}, "--distill-temperature"),
    ({"teachers": ["/nowhere/model.onnx"]}, "no model file"),
])
def test_bad_distillation_options_are_refused(change, message, train_slice, validation_slice,
                                              tmp_path) -> None:
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        train(TrainConfig(arch="linear", **change), train_slice, validation_slice, tmp_path, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_the_command_refuses_a_teacher_it_cannot_read(tmp_path, capsys) -> None:
    text = tmp_path / "teacher.txt"
    text.write_text("not a model")
    broken = tmp_path / "teacher.onnx"
    broken.write_bytes(b"not onnx")
    for teacher, message in ((text, "expected a checkpoint (.pt) or an ONNX file"),
                             (broken, "not a loadable ONNX model"),
                             (tmp_path / "missing.pt", "no model file")):
        assert main(["train", "--arch", "linear", "--epochs", "1", "--train-limit", "256", "--no-test",
                     "--teacher", str(teacher), "--out", str(tmp_path / "run")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
