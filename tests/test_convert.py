"""ONNX -> SavedModel conversion: TF Serving layout, signatures, classify on tf.Examples, atomicity."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emnist_contract.labels import BYCLASS_LABELS
from model_tools.__main__ import main
from model_tools.common.hashing import file_sha256
from model_tools.export.convert import VERSION_ENTRIES, convert_onnx, next_version
from model_tools.export.onnx_model import onnxruntime_scores
from model_tools.export.signatures import describe_signatures
from model_tools.export.verify import VerificationError
from tests.translation_fixtures import CHECK_IMAGES, build, real_images

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built():
    return build()


@pytest.fixture(scope="module")
def loaded(built):
    import tensorflow as tf

    return tf.saved_model.load(str(built.version_dir))


def test_version_folder_is_exactly_the_tf_serving_layout(built):
    for version_dir in (built.version_dir, built.reference_version_dir):
        assert version_dir.name == "1"
        assert {p.name for p in version_dir.iterdir()} == VERSION_ENTRIES  # no .tflite or other debris
        assert (version_dir / "variables" / "variables.index").is_file()
        labels = (version_dir / "assets" / "labels.txt").read_text().splitlines()
        assert labels == list(BYCLASS_LABELS)
        assert not [p for p in version_dir.parent.iterdir() if p.name.startswith(".")]  # no temp folders


def tensors(side: dict) -> dict:
    return {key: (info["dtype"], info["shape"]) for key, info in side.items()}


@pytest.mark.parametrize("which", ["version_dir", "reference_version_dir"])
def test_signature_defs_read_from_saved_model_pb(built, which):
    signatures = describe_signatures(getattr(built, which))["serve"]
    # (plus TF2's __saved_model_init_op, which fills the labels table)
    assert set(signatures) == {"serving_default", "predict_images", "classify", "__saved_model_init_op"}
    # serving_default: scores ONLY, so TF Serving answers {"predictions": [[62 scores], ...]} (one output)
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert tensors(default["inputs"]) == {"images": ("DT_FLOAT", [-1, 784])}
    assert tensors(default["outputs"]) == {"scores": ("DT_FLOAT", [-1, 62])}
    predict = signatures["predict_images"]
    assert predict["method_name"] == "tensorflow/serving/predict"
    assert tensors(predict["inputs"]) == {"images": ("DT_FLOAT", [-1, 784])}
    assert tensors(predict["outputs"]) == {"scores": ("DT_FLOAT", [-1, 62]), "classes": ("DT_INT64", [-1])}
    classify = signatures["classify"]
    assert classify["method_name"] == "tensorflow/serving/classify"
    assert tensors(classify["inputs"]) == {"inputs": ("DT_STRING", [-1])}
    assert tensors(classify["outputs"]) == {
        "scores": ("DT_FLOAT", [-1, 62]), "classes": ("DT_STRING", [-1, 62])}


def test_predict_signature_matches_onnx_on_unseen_images(built, loaded):
    import tensorflow as tf

    images, _ = real_images(200)
    expected = onnxruntime_scores(built.version_dir / "model.onnx", images)
    for batch in (1, 200):
        out = loaded.signatures["serving_default"](images=tf.constant(images[:batch]))
        assert list(out) == ["scores"]
        assert np.abs(out["scores"].numpy() - expected[:batch]).max() <= 1e-5
        out = loaded.signatures["predict_images"](images=tf.constant(images[:batch]))
        assert sorted(out) == ["classes", "scores"]
        assert np.abs(out["scores"].numpy() - expected[:batch]).max() <= 1e-5
        assert out["classes"].dtype == tf.int64
        assert np.array_equal(out["classes"].numpy(), expected[:batch].argmax(1))


def test_classify_signature_on_real_tf_examples(built, loaded):
    import tensorflow as tf

    images, labels = real_images(40)
    examples = []
    for row in images:
        example = tf.train.Example(features=tf.train.Features(feature={
            "images": tf.train.Feature(float_list=tf.train.FloatList(value=row.tolist()))}))
        examples.append(example.SerializeToString())
    out = loaded.signatures["classify"](inputs=tf.constant(examples))
    classes, scores = out["classes"].numpy(), out["scores"].numpy()
    assert classes.shape == (40, 62)
    assert [c.decode() for c in classes[0]] == list(BYCLASS_LABELS)
    predicted = loaded.signatures["predict_images"](images=tf.constant(images))["scores"].numpy()
    assert np.abs(scores - predicted).max() <= 1e-6
    # the briefly trained test model reads real digits it never saw far better than chance (1/62)
    assert np.mean(scores.argmax(1) == labels) > 0.15


def test_warmup_records_replay_against_the_model(built, loaded):
    import tensorflow as tf

    from model_tools.export.warmup_writer import read_warmup_requests

    records = read_warmup_requests(built.version_dir)
    kinds = [record.WhichOneof("log_type") for record in records]
    assert kinds == ["predict_log", "predict_log", "classify_log"]
    request = records[1].predict_log.request
    images = tf.make_ndarray(request.inputs["images"])
    assert images.shape == (32, 784) and images.dtype == np.float32
    out = loaded.signatures[request.model_spec.signature_name](images=tf.constant(images))
    assert out["scores"].shape == (32, 62)
    examples = [e.SerializeToString() for e in records[2].classify_log.request.input.example_list.examples]
    assert loaded.signatures["classify"](inputs=tf.constant(examples))["classes"].shape == (1, 62)


def test_user_onnx_files_unchanged_byte_for_byte(built):
    assert file_sha256(built.onnx) == built.onnx_sha_before
    assert file_sha256(built.reference_copy) == built.reference_sha_before


def test_reference_model_converts_through_the_import_path(built):
    import onnx

    model = onnx.load(str(built.reference_version_dir / "model.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["original_input_name"] == "flattened_rescaled_img_28x28"
    assert [v.name for v in model.graph.input] == ["images"]
    signatures = describe_signatures(built.reference_version_dir)["serve"]
    assert signatures["classify"]["method_name"] == "tensorflow/serving/classify"


def test_saved_model_cli_shows_the_export(built):
    cli = Path(sys.executable).parent / "saved_model_cli"
    result = subprocess.run([str(cli), "show", "--dir", str(built.version_dir), "--all"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "MetaGraphDef with tag-set: 'serve'" in out
    for name in ("serving_default", "predict_images", "classify"):
        assert f"signature_def['{name}']" in out
    assert "Method name is: tensorflow/serving/classify" in out
    assert "shape: (-1, 784)" in out and "dtype: DT_STRING" in out
    default = out.split("signature_def['serving_default']:")[1].split("signature_def[")[0]
    assert "outputs['scores'] tensor_info:" in default and "outputs['classes']" not in default
    assert "Method name is: tensorflow/serving/predict" in default


def test_verify_refuses_a_default_signature_with_extra_outputs(built, tmp_path):
    """The old contract (serving_default also giving ``classes``) is not ours: TF Serving would answer
    objects per row instead of rows of 62 scores."""
    import shutil

    from model_tools.export.signatures import read_saved_model_proto
    from model_tools.export.verify import check_interface

    assert check_interface(built.version_dir) == []
    version_dir = tmp_path / "1"
    shutil.copytree(built.version_dir, version_dir)
    saved_model = read_saved_model_proto(version_dir)
    signatures = saved_model.meta_graphs[0].signature_def
    signatures["serving_default"].outputs["classes"].CopyFrom(signatures["predict_images"].outputs["classes"])
    (version_dir / "saved_model.pb").write_bytes(saved_model.SerializeToString())
    (failure,) = check_interface(version_dir)
    assert failure.startswith("signature 'serving_default' outputs:")
    assert "'classes': ('DT_INT64', [-1])" in failure


def test_verify_cli_passes_and_fails_honestly(built, capsys):
    assert main(["verify", str(built.version_dir), "--checkpoint", str(built.checkpoint),
                 "--limit", "300"]) == 0
    assert "OK on 300 validation images" in capsys.readouterr().out
    # against another model's ONNX the same SavedModel must fail
    assert main(["verify", str(built.version_dir), "--onnx", str(built.reference_copy.parent.parent /
                 "models" / "reference" / "1" / "model.onnx"), "--limit", "300"]) == 1
    assert "FAILED: parity" in capsys.readouterr().out


def test_versions_are_numbered_and_never_overwritten(built, tmp_path):
    for name in ("1", "3", ".tmp-4-abc", "notes"):
        (tmp_path / name).mkdir()
    assert next_version(tmp_path) == 4
    assert next_version(tmp_path / "missing") == 1
    models = built.version_dir.parent.parent
    before = (built.version_dir / "saved_model.pb").read_bytes()
    with pytest.raises(ValueError, match="never overwritten"):
        convert_onnx(built.onnx, "emnist", version=1, base=models, limit=CHECK_IMAGES)
    assert (built.version_dir / "saved_model.pb").read_bytes() == before
    assert main(["convert", str(built.onnx), "--name", "emnist", "--version", "1",
                 "--base", str(models)]) == 2


def test_conversion_failing_verification_leaves_nothing(built, tmp_path, monkeypatch):
    """A conversion whose TensorFlow model is off by a little must not publish a version (or temp folder)."""
    import model_tools.export.convert as convert

    real = convert.onnx_to_keras

    def slightly_wrong(onnx_path, work_dir):
        import tf_keras

        network = real(onnx_path, work_dir)
        inputs = tf_keras.Input(shape=(784,), name="images")
        return tf_keras.Model(inputs, network(inputs) * 0.999)

    monkeypatch.setattr(convert, "onnx_to_keras", slightly_wrong)
    base = tmp_path / "models"
    with pytest.raises(VerificationError, match="parity"):
        convert_onnx(built.onnx, "emnist", base=base, limit=200)
    assert not (base / "emnist").exists()  # neither a version nor a temporary folder, nor the new model dir
    assert file_sha256(built.onnx) == built.onnx_sha_before


def test_conversion_of_a_refused_model_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    assert main(["convert", str(bad), "--name", "emnist", "--base", str(tmp_path / "models")]) == 2
    assert not (tmp_path / "models" / "emnist").exists()


def test_loads_like_tf_serving_does_session_bundle_by_tensor_names(built):
    """TF Serving's C++ loader: a v1 session on the `serve` MetaGraph, init op (labels table from the asset),
    then feeds and fetches by the tensor names in the signature defs."""
    import tensorflow as tf

    from model_tools.export.warmup_writer import image_example

    images, _ = real_images(5)
    expected = onnxruntime_scores(built.version_dir / "model.onnx", images)
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(built.version_dir))
        predict = meta_graph.signature_def["serving_default"]
        out = session.run({k: v.name for k, v in predict.outputs.items()},
                          {predict.inputs["images"].name: images})
        assert np.abs(out["scores"] - expected).max() <= 1e-5
        classify = meta_graph.signature_def["classify"]
        out = session.run({k: v.name for k, v in classify.outputs.items()},
                          {classify.inputs["inputs"].name: [image_example(row) for row in images]})
        assert [c.decode() for c in out["classes"][4]] == list(BYCLASS_LABELS)
        assert np.abs(out["scores"] - expected).max() <= 1e-5
