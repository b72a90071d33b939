"""``evaluate`` on every model form: the ONNX and SavedModel predictors, the shipped versions' accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from model_tools.__main__ import main
from model_tools.data.datasets import to_model_input
from model_tools.data.image_sources import load_images
from model_tools.export.model_forms import load_predictor
from model_tools.training.checkpoint import load_checkpoint
from model_tools.training.evaluate import evaluate_predictor
from model_tools.training.networks import WithSoftmax
from tests.support.paths import served_version_dir

#: The pinned validation accuracy of each shipped models/emnist/<version> (measured when it was converted,
#: docs/training.md): a changed model file, loader or validation split shows here.
SHIPPED_VALIDATION_ACCURACY = {"1": 0.7363, "2": 0.7359, "3": 0.7378, "4": 0.7395}
ONE_VALIDATION_IMAGE = 1 / 4119


def test_every_shipped_emnist_version_has_a_pinned_accuracy(repo: Path):
    shipped = sorted(p.name for p in (repo / "models" / "emnist").iterdir() if p.name.isdigit())
    assert shipped == sorted(SHIPPED_VALIDATION_ACCURACY)


@pytest.mark.parametrize("form", ["savedmodel", "onnx"])
@pytest.mark.parametrize("version", sorted(SHIPPED_VALIDATION_ACCURACY))
def test_shipped_emnist_version_keeps_its_validation_accuracy(repo, version, form):
    emnist_version = repo / "models" / "emnist" / version
    path = emnist_version if form == "savedmodel" else emnist_version / "model.onnx"
    predictor = load_predictor(path)
    assert predictor.kind == form
    report = evaluate_predictor(predictor, load_images("validation"))
    assert report["images"] == 4119
    pinned = SHIPPED_VALIDATION_ACCURACY[version]
    assert report["accuracy"] == pytest.approx(pinned, abs=ONE_VALIDATION_IMAGE / 2)


#: The served version's figures on every split (eval-report, docs/model-evaluation.md): split ->
#: (images, exact accuracy, ByClass-mix accuracy or None for the digit-only splits).
SERVED_VERSION = "4"
SERVED_SPLIT_ACCURACY = {
    "validation": (4119, 0.7395, 0.8629),
    "synthetic": (1860, 0.6468, 0.7287),
    "test": (9990, 0.9656, None),
    "mnist": (5000, 0.9548, None),
    "digits-upper": (11428, 0.9527, 0.9068),
}


def test_the_pinned_figures_are_the_served_version_s():
    assert served_version_dir().name == SERVED_VERSION


@pytest.mark.parametrize("split", sorted(SERVED_SPLIT_ACCURACY))
def test_the_served_version_keeps_its_figures_on_every_split(repo, split):
    """Its exact accuracy (within 1.5 images: the pinned figures are rounded, and another processor may
    flip an image whose top two scores tie) and ByClass-mix accuracy on each split."""
    predictor = load_predictor(repo / "models" / "emnist" / SERVED_VERSION / "model.onnx")
    report = evaluate_predictor(predictor, load_images(split))
    images, exact, byclass_mix = SERVED_SPLIT_ACCURACY[split]
    assert report["images"] == images
    assert report["accuracy"] == pytest.approx(exact, abs=1.5 / images)
    if byclass_mix is not None:
        assert report["accuracy_byclass_mix"] == pytest.approx(byclass_mix, abs=0.002)


def test_the_served_version_answers_every_class():
    """Each of the 62 classes is the answer to some validation image: the real ones, and the held-out
    fonts' drawings for the ten letters no real image here shows."""
    predictor = load_predictor(served_version_dir() / "model.onnx")
    answered = set()
    for split in ("validation", "synthetic"):
        answered |= set(predictor.predict(to_model_input(load_images(split).images)).argmax(axis=1).tolist())
    assert answered == set(range(62))


def test_onnx_file_scores_like_its_checkpoint(tmp_path, repo, validation_split) -> None:
    """A plain ONNX export of the bundled linear run (torch's TorchScript exporter, its own names)."""
    model = load_checkpoint(repo / "runs" / "linear" / "checkpoint.pt").model
    onnx_path = tmp_path / "linear.onnx"
    torch.onnx.export(WithSoftmax(model).eval(), (torch.zeros(1, 784),), str(onnx_path), dynamo=False,
                      input_names=["pixels"], output_names=["probabilities"],
                      dynamic_axes={"pixels": {0: "n"}, "probabilities": {0: "n"}})
    predictor = load_predictor(onnx_path)
    assert predictor.kind == "onnx"
    images = to_model_input(validation_split[0][:300])
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(images)), dim=1).numpy()
    np.testing.assert_allclose(predictor.predict(images), expected, atol=1e-5)


def test_saved_model_folder_is_scored_through_serving_default(tmp_path) -> None:
    import tensorflow as tf

    weights = np.random.default_rng(0).normal(size=(784, 62)).astype(np.float32)

    class Module(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(weights)

        @tf.function(input_signature=[tf.TensorSpec([None, 784], tf.float32, name="images")])
        def serve(self, images):
            return {"scores": tf.nn.softmax(images @ self.w), "classes": tf.argmax(images @ self.w, axis=1)}

    module = Module()
    for version in ("3", "12"):  # the newest version of a model base is the numerically largest
        tf.saved_model.save(module, str(tmp_path / "model" / version),
                            signatures={"serving_default": module.serve})
    images = np.random.default_rng(1).random((5, 784), dtype=np.float32)
    logits = images.astype(np.float64) @ weights.astype(np.float64)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    for path in (tmp_path / "model" / "3", tmp_path / "model"):  # a version folder, or the model base
        predictor = load_predictor(path)
        assert predictor.kind == "savedmodel"
        np.testing.assert_allclose(predictor.predict(images), expected, atol=1e-5)
    assert load_predictor(tmp_path / "model").source == tmp_path / "model" / "12"


def test_missing_and_foreign_models_give_clear_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no model"):
        load_predictor(tmp_path / "nothing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_predictor(garbage)
    fake_onnx = tmp_path / "fake.onnx"
    fake_onnx.write_bytes(b"\x00\x01 not onnx")
    with pytest.raises(ValueError, match="ONNX"):
        load_predictor(fake_onnx)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="unknown model type"):
        load_predictor(text)
    with pytest.raises(ValueError, match="not a SavedModel"):
        load_predictor(tmp_path)


def test_evaluate_command_prints_tables_and_writes_json(tmp_path, capsys, repo, official_test_split) -> None:
    linear = repo / "runs" / "linear" / "checkpoint.pt"
    out = tmp_path / "report.json"
    assert main(["evaluate", str(linear), "--split", "test", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "case-insensitive" in printed and "confusion matrix" in printed and "precision" in printed
    report = json.loads(out.read_text())
    assert report["images"] == 9990 and report["model_kind"] == "checkpoint"
    assert f"{report['accuracy'] * 100:.2f} % exact" in printed
    assert len(report["precision"]) == len(report["recall"]) == 62
    # The accuracy is the share of test digits the network itself gets right.
    model = load_checkpoint(linear).model
    images, labels = official_test_split
    with torch.no_grad():
        predicted = model(torch.from_numpy(to_model_input(images))).argmax(1).numpy()
    assert report["accuracy"] == pytest.approx(float(np.mean(predicted == labels)), abs=1.5 / 9990)


def test_evaluate_command_fails_cleanly(tmp_path, capsys, repo) -> None:
    assert main(["evaluate", str(tmp_path / "missing.pt")]) == 2
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    assert main(["evaluate", str(bad)]) == 2
    linear = repo / "runs" / "linear" / "checkpoint.pt"
    assert main(["evaluate", str(linear), "--data", str(tmp_path / "none.gz")]) == 2
    assert capsys.readouterr().out == ""
