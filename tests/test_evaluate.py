"""``evaluate``: the metrics, the three model forms behind one predictor interface, and clear errors."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat

from emnist_contract.labels import NUM_CLASSES, char_to_label
from model_tools.__main__ import main
from model_tools.data import emnist_io
from model_tools.data.datasets import load_split, to_model_input
from model_tools.data.image_sources import load_images
from model_tools.export.model_forms import load_predictor
from model_tools.training.checkpoint import load_checkpoint
from model_tools.training.evaluate import CheckpointPredictor, evaluate_predictor
from model_tools.training.metrics import case_insensitive_accuracy, classification_report, confusion_matrix
from model_tools.training.networks import WithSoftmax

REPO = Path(__file__).resolve().parent.parent
BEST = REPO / "runs" / "cnn" / "checkpoint.pt"
LINEAR = REPO / "runs" / "linear" / "checkpoint.pt"


# ------------------------------------------------------------------------------------------- metrics


def test_case_insensitive_accuracy_folds_only_letter_case() -> None:
    labels = np.array([char_to_label(c) for c in "cCoO0s"])
    predicted = np.array([char_to_label(c) for c in "CcOo0S"])
    assert case_insensitive_accuracy(labels, predicted) == 1.0
    # 'O' for a zero is a different character, not a case difference.
    assert case_insensitive_accuracy(np.array([char_to_label("0")]), np.array([char_to_label("O")])) == 0.0


def test_report_precision_recall_and_matrix() -> None:
    labels = np.array([0, 0, 1, 1, 36])
    predicted = np.array([0, 1, 1, 1, 10])  # 'a' read as 'A'
    report = classification_report(labels, predicted)
    assert report["accuracy"] == pytest.approx(3 / 5)
    assert report["accuracy_case_insensitive"] == pytest.approx(4 / 5)
    assert report["precision"][0] == 1.0 and report["recall"][0] == 0.5
    assert report["precision"][1] == pytest.approx(2 / 3) and report["recall"][1] == 1.0
    assert report["precision"][2] is None and report["recall"][2] is None  # no images, never predicted
    matrix = np.asarray(report["confusion_matrix"])
    assert matrix.shape == (NUM_CLASSES, NUM_CLASSES) and matrix[0, 1] == 1 and matrix[36, 10] == 1
    assert report["groups"]["lowercase"]["accuracy_case_insensitive"] == 1.0
    json.dumps(report)  # JSON-ready
    with pytest.raises(ValueError):
        confusion_matrix(np.array([1, 2]), np.array([1]))


# -------------------------------------------------------------------------------------- predictors


@pytest.fixture(scope="module")
def validation() -> tuple[np.ndarray, np.ndarray]:
    return load_split("validation")


def test_shipped_checkpoint_scores_its_recorded_accuracy(validation) -> None:
    checkpoint = load_checkpoint(BEST)
    predictor = load_predictor(BEST)
    report = evaluate_predictor(predictor, load_images("validation"))
    assert report["images"] == len(validation[1])
    # Identical here; another CPU's float rounding may flip at most a borderline image or so.
    one_image = 1.0 / len(validation[1])
    assert report["accuracy"] == pytest.approx(checkpoint.metrics["val_accuracy"], abs=1.5 * one_image)
    assert report["accuracy_case_insensitive"] == pytest.approx(
        checkpoint.metrics["val_accuracy_case_insensitive"], abs=1.5 * one_image)
    assert report["accuracy"] > 0.70  # the bundled CNN, far above the reference's 55.8 %


def test_onnx_file_scores_like_its_checkpoint(tmp_path, validation) -> None:
    checkpoint_predictor = CheckpointPredictor(LINEAR)
    onnx_path = tmp_path / "linear.onnx"
    torch.onnx.export(WithSoftmax(checkpoint_predictor.model).eval(), (torch.zeros(1, 784),), str(onnx_path),
                      dynamo=False,
                      input_names=["images"], output_names=["scores"],
                      dynamic_axes={"images": {0: "batch"}, "scores": {0: "batch"}})
    predictor = load_predictor(onnx_path)
    assert predictor.kind == "onnx"
    images = to_model_input(validation[0][:300])
    np.testing.assert_allclose(predictor.predict(images), checkpoint_predictor.predict(images), atol=1e-5)


def test_saved_model_folder_is_scored_through_serving_default(tmp_path) -> None:
    tf = pytest.importorskip("tensorflow")
    weights = np.random.default_rng(0).normal(size=(784, NUM_CLASSES)).astype(np.float32)

    class Module(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(weights)

        @tf.function(input_signature=[tf.TensorSpec([None, 784], tf.float32, name="images")])
        def serve(self, images):  # noqa: ANN001, ANN202
            return {"scores": tf.nn.softmax(images @ self.w), "classes": tf.argmax(images @ self.w, axis=1)}

    module = Module()
    version = tmp_path / "model" / "3"
    tf.saved_model.save(module, str(version), signatures={"serving_default": module.serve})
    images = np.random.default_rng(1).random((5, 784), dtype=np.float32)
    expected = tf.nn.softmax(images @ weights).numpy()
    for path in (version, tmp_path / "model"):  # the version folder, or the TF Serving model base
        predictor = load_predictor(path)
        assert predictor.kind == "savedmodel"
        np.testing.assert_allclose(predictor.predict(images), expected, atol=1e-5)


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


# ------------------------------------------------------------------------------------------ data in


def test_nist_idx_file_reads_like_the_test_split() -> None:
    test_images, test_labels = load_split("test")
    data = load_images(data=REPO / "data" / "nist" / "emnist-mnist-test-images-idx3-ubyte.gz")
    assert np.array_equal(data.images, test_images) and np.array_equal(data.labels, test_labels)


def test_mat_file_labels_are_translated_to_byclass(tmp_path) -> None:
    """A 'letters' .mat (labels 1-26 for a-z/A-Z) comes out in ByClass numbers via its mapping."""
    images, _ = load_split("validation")
    mapping = {1: "A", 2: "B"}
    part = emnist_io.EmnistPart(images[:4], np.array([1, 2, 2, 1]), mapping)
    path = tmp_path / "emnist-custom.mat"
    emnist_io.write_mat_split(path, part, part)
    data = load_images(data=path, part="test")
    assert data.labels.tolist() == [char_to_label(c) for c in "ABBA"]
    assert np.array_equal(data.images, images[:4])
    # NIST's 'letters' maps each label to both cases: the image counts as the uppercase class.
    part = {"images": emnist_io.images_to_mat_rows(images[:2]), "labels": np.array([[1.0], [2.0]])}
    mapping = np.array([[1, ord("A"), ord("a")], [2, ord("B"), ord("b")]], dtype=np.float64)
    savemat(tmp_path / "letters.mat", {"dataset": {"train": part, "test": part, "mapping": mapping}})
    assert load_images(data=tmp_path / "letters.mat").labels.tolist() == [10, 11]


def test_foreign_data_files_give_clear_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        load_images(data=tmp_path / "none.npz")
    npz = tmp_path / "bad.npz"
    np.savez(npz, x=np.zeros(3))
    with pytest.raises(ValueError, match="'images' and 'labels'"):
        load_images(data=npz)
    other = tmp_path / "pictures.bin"
    other.write_bytes(b"123")
    with pytest.raises(ValueError, match="unknown data file"):
        load_images(data=other)
    nist = REPO / "data" / "nist"
    for name in ("emnist-mnist-test-labels-idx1-ubyte.gz", "emnist-mnist-mapping.txt"):
        shutil.copy(nist / name, tmp_path / name)
    truncated = tmp_path / "emnist-mnist-test-images-idx3-ubyte"
    whole = gzip.decompress((nist / "emnist-mnist-test-images-idx3-ubyte.gz").read_bytes())
    truncated.write_bytes(whole[:5000])
    with pytest.raises(ValueError):
        load_images(data=truncated)


# ------------------------------------------------------------------------------------------------ CLI


def test_evaluate_command_prints_tables_and_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "report.json"
    assert main(["evaluate", str(LINEAR), "--split", "test", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "case-insensitive" in printed and "confusion matrix" in printed and "precision" in printed
    report = json.loads(out.read_text())
    assert report["images"] == 9990 and report["model_kind"] == "checkpoint"
    assert f"{report['accuracy'] * 100:.2f} % exact" in printed
    assert len(report["precision"]) == len(report["recall"]) == NUM_CLASSES


def test_evaluate_command_fails_cleanly(tmp_path, capsys) -> None:
    assert main(["evaluate", str(tmp_path / "missing.pt")]) == 2
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    assert main(["evaluate", str(bad)]) == 2
    assert main(["evaluate", str(LINEAR), "--data", str(tmp_path / "none.gz")]) == 2
    assert capsys.readouterr().out == ""
