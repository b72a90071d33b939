"""The engines: both load the shipped version, agree within 1e-5, are thread-safe, and refuse bad folders."""

from __future__ import annotations

import shutil
import sys
import threading

import numpy as np
import pytest

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from emnist_contract.tensors import NUM_PIXELS
from serving_core.engines import EngineError, SignatureError, resolve_engine
from serving_core.engines import load_engine as open_engine
from serving_core.engines.signature_defs import read_signature_defs
from tests.support.model_versions import TEST_ENGINE_OPTIONS
from tests.support.paths import served_version_dir


def load_engine(kind, version_dir):
    return open_engine(kind, version_dir, TEST_ENGINE_OPTIONS)


@pytest.fixture(scope="module")
def onnx_engine():
    engine = load_engine("onnxruntime", served_version_dir())
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def tf_engine():
    engine = load_engine("tensorflow", served_version_dir())
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def batch(validation_images):
    images, _ = validation_images
    return images.reshape(-1, NUM_PIXELS).astype(np.float32) / 255.0


def test_engines_agree_within_1e_5(onnx_engine, tf_engine, batch):
    onnx_scores = onnx_engine.predict(batch)
    tf_scores = tf_engine.predict(batch)
    assert onnx_scores.shape == tf_scores.shape == (len(batch), NUM_CLASSES)
    assert onnx_scores.dtype == tf_scores.dtype == np.float32
    np.testing.assert_allclose(onnx_scores, tf_scores, atol=1e-5)
    np.testing.assert_allclose(tf_scores.sum(axis=1), 1.0, atol=1e-4)


def test_accuracy_is_that_of_a_trained_model(onnx_engine, batch, validation_images):
    _, labels = validation_images
    accuracy = (onnx_engine.predict(batch).argmax(axis=1) == labels).mean()
    assert accuracy > 0.5  # 62 classes: chance is 1.6 %


@pytest.mark.parametrize("kind", ["onnxruntime", "tensorflow"])
def test_predict_is_thread_safe(kind, onnx_engine, tf_engine, batch):
    engine = onnx_engine if kind == "onnxruntime" else tf_engine
    expected = engine.predict(batch[:64])
    results: dict[int, list[np.ndarray]] = {}

    def worker(index: int) -> None:
        results[index] = [engine.predict(batch[i : i + 1 + index % 5]) for i in range(0, 60, 3)]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, answers in results.items():
        for i, answer in zip(range(0, 60, 3), answers, strict=True):
            np.testing.assert_allclose(answer, expected[i : i + 1 + index % 5], atol=1e-5)
    assert len(results) == 8


def test_labels_and_kinds(onnx_engine, tf_engine):
    assert onnx_engine.labels == tf_engine.labels == BYCLASS_LABELS
    assert (onnx_engine.kind, tf_engine.kind) == ("onnxruntime", "tensorflow")


def test_signature_defs_match_tensorflow_and_each_other(onnx_engine, tf_engine):
    from google.protobuf.json_format import MessageToDict
    from tensorflow.python.saved_model import loader_impl

    saved_model = loader_impl.parse_saved_model(str(served_version_dir()))
    meta_graph = next(m for m in saved_model.meta_graphs if "serve" in m.meta_info_def.tags)
    expected = {
        name: MessageToDict(signature, preserving_proto_field_name=True,
                            always_print_fields_with_no_presence=True)
        for name, signature in meta_graph.signature_def.items()
    }
    ours = read_signature_defs(served_version_dir())["signature_def"]
    assert ours == expected
    assert onnx_engine.signature_defs == tf_engine.signature_defs
    default = ours["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert [d["size"] for d in default["inputs"]["images"]["tensor_shape"]["dim"]] == ["-1", str(NUM_PIXELS)]
    assert {"serving_default", "predict_images", "classify"} <= set(ours)
    assert list(default["outputs"]) == ["scores"]  # one output: TF Serving answers rows of 62 scores
    assert sorted(ours["predict_images"]["outputs"]) == ["classes", "scores"]


@pytest.mark.parametrize("kind", ["onnxruntime", "tensorflow"])
def test_default_signature_gives_scores_alone_equal_to_predict(kind, onnx_engine, tf_engine, batch):
    engine = onnx_engine if kind == "onnxruntime" else tf_engine
    assert engine.signature_outputs("serving_default") == ["scores"]
    outputs = engine.run_signature("serving_default", {"images": batch[:16]})
    assert list(outputs) == ["scores"]
    np.testing.assert_allclose(outputs["scores"], engine.predict(batch[:16]), atol=1e-6)


@pytest.mark.parametrize("kind", ["onnxruntime", "tensorflow"])
def test_predict_images_signature_gives_scores_and_classes(kind, onnx_engine, tf_engine, batch):
    engine = onnx_engine if kind == "onnxruntime" else tf_engine
    outputs = engine.run_signature("predict_images", {"images": batch[:16]})
    assert set(outputs) == {"scores", "classes"}
    np.testing.assert_array_equal(outputs["classes"], outputs["scores"].argmax(axis=1))
    assert outputs["classes"].dtype == np.int64


def test_unknown_signature_is_refused(onnx_engine, tf_engine, batch):
    for engine in (onnx_engine, tf_engine):
        with pytest.raises(SignatureError, match='"nope" not found'):
            engine.run_signature("nope", {"images": batch[:1]})
        with pytest.raises(SignatureError, match="takes inputs"):
            engine.run_signature("predict_images", {"pixels": batch[:1]})


def test_onnx_engine_cannot_run_the_example_signature(onnx_engine):
    with pytest.raises(SignatureError, match="onnxruntime"):
        onnx_engine.run_signature("classify", {"inputs": np.array([b"x"], dtype=object)})


@pytest.mark.parametrize("kind", ["onnxruntime", "tensorflow"])
def test_wrong_input_shape_is_refused(kind, onnx_engine, tf_engine):
    engine = onnx_engine if kind == "onnxruntime" else tf_engine
    with pytest.raises(ValueError, match=r"\[N, 784\]"):
        engine.predict(np.zeros((2, 28, 28), np.float32))


def test_unknown_engine_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="unknown engine"):
        load_engine("torch", served_version_dir())
    with pytest.raises(EngineError, match="no such model version folder"):
        load_engine("onnxruntime", tmp_path / "missing")
    with pytest.raises(EngineError, match="no model.onnx"):
        load_engine("onnxruntime", tmp_path)
    with pytest.raises(EngineError, match="no saved_model.pb"):
        load_engine("tensorflow", tmp_path)


def test_the_tensorflow_engine_without_tensorflow_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as in an install of the serve extra
    with pytest.raises(EngineError, match="needs TensorFlow, which is not installed: install the serve-tf"):
        open_engine("tensorflow", served_version_dir(), TEST_ENGINE_OPTIONS)
    with pytest.raises(EngineError, match="serve-tf"):
        resolve_engine("tensorflow")
    assert resolve_engine("auto") == "onnxruntime"
    with pytest.raises(ValueError, match="unknown engine 'torch'"):
        resolve_engine("torch")


def test_corrupt_files_raise_engine_errors(tmp_path):
    version = tmp_path / "3"
    shutil.copytree(served_version_dir(), version)
    (version / "model.onnx").write_bytes(b"not a protobuf at all")
    with pytest.raises(EngineError, match="cannot open with onnxruntime"):
        load_engine("onnxruntime", version)
    (version / "saved_model.pb").write_bytes(b"\x00garbage")
    with pytest.raises(EngineError, match="not a SavedModel protobuf"):
        load_engine("tensorflow", version)
    (version / "assets" / "labels.txt").write_text("a\nb\n")
    with pytest.raises(EngineError, match="expected 62 labels"):
        load_engine("onnxruntime", version)


def test_onnx_engine_on_a_bare_onnx_folder(tmp_path, batch):
    version = tmp_path / "1"
    version.mkdir()
    shutil.copy(served_version_dir() / "model.onnx", version / "model.onnx")
    engine = load_engine("onnxruntime", version)
    assert engine.labels == BYCLASS_LABELS  # no assets/labels.txt: the ByClass order
    signatures = engine.signature_defs["signature_def"]
    assert list(signatures) == ["serving_default"]
    assert signatures["serving_default"]["outputs"]["scores"]["dtype"] == "DT_FLOAT"
    assert engine.predict(batch[:2]).shape == (2, NUM_CLASSES)


@pytest.mark.parametrize("kind", ["onnxruntime", "tensorflow"])
def test_a_version_never_reads_its_folder_after_opening(kind, tmp_path, batch):
    """Everything a version answers with is read when it opens: a folder broken afterwards changes nothing."""
    version = tmp_path / "1"
    shutil.copytree(served_version_dir(), version)
    engine = load_engine(kind, version)
    signatures = dict(engine.signature_defs)
    expected = engine.predict(batch[:4])
    (version / "saved_model.pb").write_bytes(b"\x00garbage")
    (version / "assets" / "labels.txt").unlink()
    assert engine.signature_defs == signatures
    assert engine.signature_outputs("predict_images") == ["classes", "scores"]
    np.testing.assert_array_equal(engine.predict(batch[:4]), expected)
    assert engine.labels == BYCLASS_LABELS
    engine.close()


@pytest.mark.parametrize("kind", ["onnxruntime", "tensorflow"])
def test_the_untrained_classes_come_from_the_model_info(kind, tmp_path):
    from tests.support.model_versions import copy_served_version

    version = copy_served_version(tmp_path, ["z", "J"])
    engine = load_engine(kind, version)
    assert engine.untrained_classes == ("J", "z")  # in the labels' order
    engine.close()
    without = copy_served_version(tmp_path / "without", None)
    engine = load_engine(kind, without)
    assert engine.untrained_classes == ()
    engine.close()


def test_a_malformed_model_info_refuses_the_version(tmp_path):
    from emnist_contract.layout import MODEL_INFO_FILE
    from tests.support.model_versions import copy_served_version

    version = copy_served_version(tmp_path, [])
    (version / MODEL_INFO_FILE).write_text('{"classes_without_training_images": ["?"]}', encoding="utf-8")
    with pytest.raises(EngineError, match="model_info.json.*not one of the labels"):
        load_engine("onnxruntime", version)
    (version / MODEL_INFO_FILE).write_bytes(b"\xff\xfe")
    with pytest.raises(EngineError):
        load_engine("onnxruntime", version)


def test_tensorflow_refuses_inputs_in_the_servers_words(tf_engine):
    """TensorFlow's own error text (graph nodes, kernels) stays in the log: the refusal names the
    signature's inputs instead."""
    with pytest.raises(SignatureError) as refused:
        tf_engine.run_signature("predict_images", {"images": np.zeros((1, 783), np.float32)})
    message = str(refused.value)
    assert message.startswith("signature predict_images could not run on these inputs")
    assert "images: DT_FLOAT [-1, 784]" in message
    assert "node" not in message.lower() and "graph" not in message.lower()
