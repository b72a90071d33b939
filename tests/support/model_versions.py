"""Model version folders for the lifecycle tests: small real models in the TF Serving layout.

Each ONNX version is a genuine softmax-regression model (its own random weights, so two versions give
different scores) that onnxruntime runs in microseconds; ``write_savedmodel_version`` writes a real
SavedModel with the contract's signatures for the TensorFlow engine.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from emnist_contract.layout import MODEL_INFO_FILE, WARMUP_FILE
from emnist_contract.tensors import NUM_PIXELS
from serving_core.engines import EngineOptions, load_engine
from serving_core.lifecycle.warmup import masked_crc32c
from tests.support.paths import SERVED_MODEL, served_version_dir
from tf_serving_protos.tensorflow.core.framework import types_pb2
from tf_serving_protos.tensorflow_serving.apis import prediction_log_pb2

#: The engine threads the lifecycle tests open versions with.
TEST_ENGINE_OPTIONS = EngineOptions(onnx_intra_op_threads=1, tf_intra_op_threads=1, tf_inter_op_threads=-1)


def softmax_weights(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.1, (NUM_PIXELS, NUM_CLASSES)).astype(np.float32),
            rng.normal(0, 0.1, NUM_CLASSES).astype(np.float32))


def expected_scores(seed: int, images: np.ndarray) -> np.ndarray:
    weights, bias = softmax_weights(seed)
    logits = images.astype(np.float64) @ weights + bias
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def warmup_record(images: np.ndarray) -> bytes:
    """A serialized PredictionLog with a PredictRequest for ``images`` (float32 [N,784], tensor_content)."""
    log = prediction_log_pb2.PredictionLog()
    tensor = log.predict_log.request.inputs["images"]
    tensor.dtype = types_pb2.DT_FLOAT
    for size in images.shape:
        tensor.tensor_shape.dim.add(size=size)
    tensor.tensor_content = np.ascontiguousarray(images, "<f4").tobytes()
    log.predict_log.request.model_spec.name = "emnist"
    return log.SerializeToString()


def write_tfrecords(path: Path, records: list[bytes]) -> None:
    """Write records in TFRecord framing, as TensorFlow's writer does (warmup files without TensorFlow)."""
    with open(path, "wb") as stream:
        for record in records:
            length = struct.pack("<Q", len(record))
            stream.write(length + struct.pack("<I", masked_crc32c(length)))
            stream.write(record + struct.pack("<I", masked_crc32c(record)))


def write_onnx_version(version_dir: Path, seed: int, warmup: bool = True, outputs: int = NUM_CLASSES) -> Path:
    """A version folder with ``model.onnx`` (images [N,784] -> scores [N,outputs]) and labels."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights, bias = softmax_weights(seed)
    weights, bias = weights[:, :outputs], bias[:outputs]
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["images", "weights"], ["logits_raw"]),
            helper.make_node("Add", ["logits_raw", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["scores"], axis=1),
        ],
        f"softmax_regression_{seed}",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", NUM_PIXELS])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", outputs])],
        [numpy_helper.from_array(weights, "weights"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    version_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, version_dir / "model.onnx")
    (version_dir / "assets").mkdir(exist_ok=True)
    (version_dir / "assets" / "labels.txt").write_text("\n".join(BYCLASS_LABELS) + "\n", encoding="utf-8")
    if warmup:
        (version_dir / WARMUP_FILE).parent.mkdir(exist_ok=True)
        images = np.random.default_rng(seed).random((4, NUM_PIXELS), dtype=np.float32)
        write_tfrecords(version_dir / WARMUP_FILE, [warmup_record(images[:1]), warmup_record(images)])
    return version_dir


def write_savedmodel_version(
    version_dir: Path, seed: int, default_outputs: tuple[str, ...] = ("scores",)
) -> Path:
    """A real SavedModel with the contract's predict signatures + model.onnx: serving_default gives
    ``default_outputs`` (the contract: scores alone), predict_images scores and classes."""
    import tensorflow as tf

    weights, bias = softmax_weights(seed)

    class SoftmaxRegression(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weights = tf.Variable(weights)
            self.bias = tf.Variable(bias)

        @tf.function(input_signature=[tf.TensorSpec([None, NUM_PIXELS], tf.float32, name="images")])
        def predict(self, images):  # noqa: ANN001, ANN202
            scores = tf.nn.softmax(tf.matmul(images, self.weights) + self.bias)
            return {"scores": scores, "classes": tf.argmax(scores, axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None, NUM_PIXELS], tf.float32, name="images")])
        def serve(self, images):  # noqa: ANN001, ANN202
            outputs = self.predict(images)
            return {name: outputs[name] for name in default_outputs}

    module = SoftmaxRegression()
    signatures = {"serving_default": module.serve, "predict_images": module.predict}
    tf.saved_model.save(module, str(version_dir), signatures=signatures)
    write_onnx_version(version_dir, seed)
    return version_dir


def publish(source_dir: Path, base_path: Path, version: int) -> Path:
    """Publish a version the way the converter does: copy into a dot-prefixed folder, then rename."""
    base_path.mkdir(parents=True, exist_ok=True)
    staging = base_path / f".{version}.{uuid.uuid4().hex}.tmp"
    shutil.copytree(source_dir, staging)
    target = base_path / str(version)
    os.rename(staging, target)
    return target


class RecordingEngine:
    """Wraps a real engine to record whether the manager closed it (our engines' close() is silent)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.closed = False
        self.calls = 0

    def predict(self, images: np.ndarray) -> np.ndarray:
        if self.closed:
            raise RuntimeError("predict() on a closed engine")
        self.calls += 1
        return self.inner.predict(images)

    def close(self) -> None:
        self.closed = True
        self.inner.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class RecordingFactory:
    """An engine factory around ``serving_core.engines.load_engine`` that keeps every engine it made."""

    def __init__(self) -> None:
        self.engines: dict[Path, list[RecordingEngine]] = {}
        self.attempts: list[Path] = []

    def __call__(self, kind: str, version_dir: Path) -> RecordingEngine:
        self.attempts.append(Path(version_dir).resolve())
        engine = RecordingEngine(load_engine(kind, version_dir, TEST_ENGINE_OPTIONS))
        self.engines.setdefault(Path(version_dir).resolve(), []).append(engine)
        return engine

    def made_for(self, version_dir: Path) -> list[RecordingEngine]:
        return self.engines.get(Path(version_dir).resolve(), [])


class GatedFactory(RecordingFactory):
    """A RecordingFactory whose loads of versions under a folder named ``folder`` wait for ``release``.

    ``loading`` is set when such a load starts, so a test can look at the manager mid-load.
    """

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder
        self.loading = threading.Event()
        self.release = threading.Event()

    def __call__(self, kind: str, version_dir: Path) -> RecordingEngine:
        if self.folder in Path(version_dir).parts:
            self.loading.set()
            assert self.release.wait(10), "the test never released the gated load"
        return super().__call__(kind, version_dir)


def copy_served_version(base_path: Path, untrained: Sequence[str] | None) -> Path:
    """A copy of the served version under ``base_path/<model>/1`` whose model info lists ``untrained`` as
    the classes without training images (written by hand, as JSON); ``None``: no model info file."""
    target = base_path / SERVED_MODEL / "1"
    shutil.copytree(served_version_dir(), target)
    info = target / MODEL_INFO_FILE
    info.unlink(missing_ok=True)
    if untrained is not None:
        info.parent.mkdir(exist_ok=True)
        info.write_text(json.dumps({"classes_without_training_images": list(untrained)}), encoding="utf-8")
    return target
