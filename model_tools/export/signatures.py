"""The SavedModel's serving interface in TensorFlow: building the signatures of ``emnist_contract.signatures``
around a converted network, setting the classify method name, and reading the signature defs back.

``serving_default`` (Predict API): ``images`` float32 [-1, 784] -> ``scores`` float32 [-1, 62] only. One
output, because TF Serving answers a one-output signature with plain rows (``{"predictions": [[62
scores], ...]}``, what the blog's client reads) and a several-output one with an object per row.
``predict_images`` (Predict API): the same input -> ``scores`` and ``classes`` int64 [-1] (the argmax).
``classify`` (Classification API): ``inputs`` = serialized ``tf.Example`` strings with a float feature
``images`` of 784 values -> ``classes`` (the 62 label strings per example, read from
``assets/labels.txt``) and ``scores``, method ``tensorflow/serving/classify``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.layout import SAVED_MODEL_FILE
from emnist_contract.signatures import (
    CLASSES_KEY,
    CLASSIFY_INPUT_KEY,
    CLASSIFY_METHOD,
    CLASSIFY_SIGNATURE,
    DEFAULT_SIGNATURE,
    EXAMPLE_FEATURE,
    INPUT_KEY,
    PREDICT_IMAGES_SIGNATURE,
    SCORES_KEY,
)
from emnist_contract.tensors import NUM_PIXELS


def build_serving_module(keras_model: Any, labels_path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Wrap a converted model (images -> scores) in a tf.Module carrying the labels asset.

    Returns the module and the ``signatures`` dict for ``tf.saved_model.save``.
    """
    import tensorflow as tf

    class EmnistServingModule(tf.Module):
        """Holds the converted network and the labels table; its tf.functions are the signatures."""

        def __init__(self) -> None:
            super().__init__(name="emnist_serving")
            self.network = keras_model
            self.labels_asset = tf.saved_model.Asset(str(labels_path))
            initializer = tf.lookup.TextFileInitializer(
                self.labels_asset, key_dtype=tf.int64, key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
                value_dtype=tf.string, value_index=tf.lookup.TextFileIndex.WHOLE_LINE)
            self.labels_table = tf.lookup.StaticHashTable(initializer, default_value="")

        def scores(self, images: tf.Tensor) -> tf.Tensor:
            return tf.ensure_shape(tf.cast(self.network(images), tf.float32), [None, NUM_CLASSES])

        @tf.function(input_signature=[tf.TensorSpec([None, NUM_PIXELS], tf.float32, name=INPUT_KEY)])
        def serve(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
            return {SCORES_KEY: self.scores(images)}

        @tf.function(input_signature=[tf.TensorSpec([None, NUM_PIXELS], tf.float32, name=INPUT_KEY)])
        def predict(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
            scores = self.scores(images)
            return {SCORES_KEY: scores, CLASSES_KEY: tf.argmax(scores, axis=1, output_type=tf.int64)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=CLASSIFY_INPUT_KEY)])
        def classify(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            features = tf.io.parse_example(
                inputs, {EXAMPLE_FEATURE: tf.io.FixedLenFeature([NUM_PIXELS], tf.float32)})
            scores = self.scores(features[EXAMPLE_FEATURE])
            labels = self.labels_table.lookup(tf.range(NUM_CLASSES, dtype=tf.int64))
            classes = tf.tile(tf.expand_dims(labels, 0), [tf.shape(scores)[0], 1])
            return {CLASSES_KEY: classes, SCORES_KEY: scores}

    module = EmnistServingModule()
    signatures = {
        DEFAULT_SIGNATURE: module.serve,
        PREDICT_IMAGES_SIGNATURE: module.predict,
        CLASSIFY_SIGNATURE: module.classify,
    }
    return module, signatures


def set_classify_method_name(export_dir: str | Path) -> None:
    """TF2's saver marks every signature as Predict; TF Serving's Classify API needs the classify method.

    Rewrites saved_model.pb (and its fingerprint) with ``tensorflow/serving/classify`` on ``classify``.
    """
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.saved_model import fingerprinting_utils

    pb_path = Path(export_dir) / SAVED_MODEL_FILE
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(pb_path.read_bytes())
    for meta_graph in saved_model.meta_graphs:
        if CLASSIFY_SIGNATURE in meta_graph.signature_def:
            meta_graph.signature_def[CLASSIFY_SIGNATURE].method_name = CLASSIFY_METHOD
    pb_path.write_bytes(saved_model.SerializeToString())
    fingerprinting_utils.write_fingerprint(str(export_dir))


def read_saved_model_proto(export_dir: str | Path) -> Any:
    """The SavedModel protobuf of a version folder (no graph is loaded)."""
    from tensorflow.core.protobuf import saved_model_pb2

    pb_path = Path(export_dir) / SAVED_MODEL_FILE
    if not pb_path.is_file():
        raise FileNotFoundError(f"{export_dir} is not a SavedModel folder (no {SAVED_MODEL_FILE})")
    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString(pb_path.read_bytes())
    except Exception as exc:  # protobuf DecodeError
        raise ValueError(f"{pb_path} is not a SavedModel protobuf: {exc}") from exc
    return saved_model


def describe_signatures(export_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``{tag-set: {signature: {"method_name", "inputs": {key: (dtype, shape, tensor)}, "outputs"}}}``."""
    from tensorflow.core.framework import types_pb2

    described: dict[str, dict[str, Any]] = {}
    for meta_graph in read_saved_model_proto(export_dir).meta_graphs:
        tags = ",".join(meta_graph.meta_info_def.tags)
        described[tags] = {}
        for name, signature in sorted(meta_graph.signature_def.items()):
            entry: dict[str, Any] = {"method_name": signature.method_name}
            for side in ("inputs", "outputs"):
                entry[side] = {
                    key: {
                        "dtype": types_pb2.DataType.Name(info.dtype),
                        "shape": None if info.tensor_shape.unknown_rank
                        else [int(d.size) for d in info.tensor_shape.dim],
                        "name": info.name,
                    }
                    for key, info in sorted(getattr(signature, side).items())
                }
            described[tags][name] = entry
    return described
