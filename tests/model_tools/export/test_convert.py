"""ONNX -> SavedModel: TF Serving's layout, numbered versions, nothing half-written, TF Serving's loader."""

from __future__ import annotations

import json
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

pytestmark = pytest.mark.slow


def test_version_folder_is_exactly_the_tf_serving_layout(translation):
    for version_dir in (translation.version_dir, translation.reference_version_dir):
        assert version_dir.name == "1"
        assert {p.name for p in version_dir.iterdir()} == VERSION_ENTRIES  # no .tflite or other debris
        assert (version_dir / "variables" / "variables.index").is_file()
        labels = (version_dir / "assets" / "labels.txt").read_text().splitlines()
        assert labels == list(BYCLASS_LABELS)
        assert not [p for p in version_dir.parent.iterdir() if p.name.startswith(".")]  # no temp folders


def test_each_version_carries_its_model_info(translation):
    run = json.loads((translation.checkpoint.parent / "metrics.json").read_text())
    assert len(run["classes_without_training_images"]) >= 10  # J Q X Y Z j q x y z at least
    ours = json.loads((translation.version_dir / "assets.extra" / "model_info.json").read_text())
    assert ours["classes_without_training_images"] == run["classes_without_training_images"]
    assert ours["source"].endswith("run/metrics.json")
    reference_info = translation.reference_version_dir / "assets.extra" / "model_info.json"
    reference = json.loads(reference_info.read_text())
    assert reference == {"classes_without_training_images": [], "source": "trained on every class"}


def test_user_onnx_files_unchanged_byte_for_byte(translation):
    assert file_sha256(translation.onnx) == translation.onnx_sha_before
    assert file_sha256(translation.reference_copy) == translation.reference_sha_before


def test_reference_model_converts_through_the_import_path(translation):
    import onnx

    model = onnx.load(str(translation.reference_version_dir / "model.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["original_input_name"] == "flattened_rescaled_img_28x28"
    assert [v.name for v in model.graph.input] == ["images"]
    signatures = describe_signatures(translation.reference_version_dir)["serve"]
    assert signatures["classify"]["method_name"] == "tensorflow/serving/classify"


def test_versions_are_numbered_and_never_overwritten(translation, tmp_path):
    for name in ("1", "3", ".tmp-4-abc", "notes"):
        (tmp_path / name).mkdir()
    assert next_version(tmp_path) == 4
    assert next_version(tmp_path / "missing") == 1
    models = translation.version_dir.parent.parent
    before = (translation.version_dir / "saved_model.pb").read_bytes()
    with pytest.raises(ValueError, match="never overwritten"):
        convert_onnx(translation.onnx, "emnist", version=1, base=models, limit=translation.check_images)
    assert (translation.version_dir / "saved_model.pb").read_bytes() == before
    assert main(["convert", str(translation.onnx), "--name", "emnist", "--version", "1",
                 "--base", str(models)]) == 2


def test_conversion_failing_verification_leaves_nothing(translation, tmp_path, monkeypatch):
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
        convert_onnx(translation.onnx, "emnist", base=base, limit=200)
    assert not (base / "emnist").exists()  # neither a version nor a temporary folder, nor the new model dir
    assert file_sha256(translation.onnx) == translation.onnx_sha_before


def test_conversion_of_a_refused_model_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    assert main(["convert", str(bad), "--name", "emnist", "--base", str(tmp_path / "models")]) == 2
    assert not (tmp_path / "models" / "emnist").exists()


def test_saved_model_cli_shows_the_export(translation):
    cli = Path(sys.executable).parent / "saved_model_cli"
    result = subprocess.run([str(cli), "show", "--dir", str(translation.version_dir), "--all"],
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


def test_loads_like_tf_serving_does_session_bundle_by_tensor_names(translation, real_inputs):
    """TF Serving's C++ loader: a v1 session on the `serve` MetaGraph, init op (labels table from the asset),
    then feeds and fetches by the tensor names in the signature defs."""
    import tensorflow as tf

    from model_tools.export.warmup_writer import image_example

    images, _ = real_inputs(5)
    expected = onnxruntime_scores(translation.version_dir / "model.onnx", images)
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(translation.version_dir))
        predict = meta_graph.signature_def["serving_default"]
        out = session.run({k: v.name for k, v in predict.outputs.items()},
                          {predict.inputs["images"].name: images})
        assert np.abs(out["scores"] - expected).max() <= 1e-5
        classify = meta_graph.signature_def["classify"]
        out = session.run({k: v.name for k, v in classify.outputs.items()},
                          {classify.inputs["inputs"].name: [image_example(row) for row in images]})
        assert [c.decode() for c in out["classes"][4]] == list(BYCLASS_LABELS)
        assert np.abs(out["scores"] - expected).max() <= 1e-5
