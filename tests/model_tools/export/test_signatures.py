"""The serving signatures: the defs in saved_model.pb, Predict against ONNX, Classify on real tf.Examples."""

from __future__ import annotations

import numpy as np
import pytest

from emnist_contract.labels import BYCLASS_LABELS
from model_tools.export.onnx_model import onnxruntime_scores
from model_tools.export.signatures import describe_signatures

pytestmark = pytest.mark.slow


def tensors(side: dict) -> dict:
    return {key: (info["dtype"], info["shape"]) for key, info in side.items()}


@pytest.mark.parametrize("which", ["version_dir", "reference_version_dir"])
def test_signature_defs_read_from_saved_model_pb(translation, which):
    signatures = describe_signatures(getattr(translation, which))["serve"]
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


def test_predict_signature_matches_onnx_on_unseen_images(translation, loaded_version, real_inputs):
    import tensorflow as tf

    images, _ = real_inputs(200)
    expected = onnxruntime_scores(translation.version_dir / "model.onnx", images)
    for batch in (1, 200):
        out = loaded_version.signatures["serving_default"](images=tf.constant(images[:batch]))
        assert list(out) == ["scores"]
        assert np.abs(out["scores"].numpy() - expected[:batch]).max() <= 1e-5
        out = loaded_version.signatures["predict_images"](images=tf.constant(images[:batch]))
        assert sorted(out) == ["classes", "scores"]
        assert np.abs(out["scores"].numpy() - expected[:batch]).max() <= 1e-5
        assert out["classes"].dtype == tf.int64
        assert np.array_equal(out["classes"].numpy(), expected[:batch].argmax(1))


def test_classify_signature_on_real_tf_examples(translation, loaded_version, real_inputs):
    import tensorflow as tf

    images, labels = real_inputs(40)
    examples = []
    for row in images:
        example = tf.train.Example(features=tf.train.Features(feature={
            "images": tf.train.Feature(float_list=tf.train.FloatList(value=row.tolist()))}))
        examples.append(example.SerializeToString())
    out = loaded_version.signatures["classify"](inputs=tf.constant(examples))
    classes, scores = out["classes"].numpy(), out["scores"].numpy()
    assert classes.shape == (40, 62)
    assert [c.decode() for c in classes[0]] == list(BYCLASS_LABELS)
    predicted = loaded_version.signatures["predict_images"](images=tf.constant(images))["scores"].numpy()
    assert np.abs(scores - predicted).max() <= 1e-6
    # the briefly trained test model reads real digits it never saw far better than chance (1/62)
    assert np.mean(scores.argmax(1) == labels) > 0.15
