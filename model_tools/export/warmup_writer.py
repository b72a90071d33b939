"""Writes a version's TF Serving warmup records (``assets.extra/tf_serving_warmup_requests``), and reads
them back for ``verify`` and ``inspect``.

TF Serving replays these requests when it loads a version, before marking it AVAILABLE, so the first
real request does not pay for graph initialization. The file is a TFRecord of ``PredictionLog`` protos
(tensorflow-serving-api), here one Predict request per batch size and one Classify request.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emnist_contract.layout import WARMUP_FILE
from emnist_contract.signatures import (
    CLASSIFY_SIGNATURE,
    DEFAULT_SIGNATURE,
    EXAMPLE_FEATURE,
    INPUT_KEY,
)


def image_example(pixels: np.ndarray) -> bytes:
    """One serialized tf.Example with the float feature ``images`` (784 values), as ``classify`` reads."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature[EXAMPLE_FEATURE].float_list.value.extend(
        np.asarray(pixels, np.float32).reshape(-1).tolist())
    return example.SerializeToString()


def write_warmup_requests(version_dir: str | Path, model_name: str, images: np.ndarray,
                          batch_sizes: tuple[int, ...] = (1, 32)) -> Path:
    """Write Predict requests for each batch size and one Classify request, from real images [N, 784]."""
    import tensorflow as tf
    from tensorflow_serving.apis import (
        classification_pb2,
        model_pb2,
        predict_pb2,
        prediction_log_pb2,
    )

    if len(images) < max(batch_sizes):
        raise ValueError(f"warmup needs at least {max(batch_sizes)} images, got {len(images)}")
    path = Path(version_dir) / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for batch in batch_sizes:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=DEFAULT_SIGNATURE))
            request.inputs[INPUT_KEY].CopyFrom(tf.make_tensor_proto(images[:batch].astype(np.float32)))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
        classify = classification_pb2.ClassificationRequest(
            model_spec=model_pb2.ModelSpec(name=model_name, signature_name=CLASSIFY_SIGNATURE))
        classify.input.example_list.examples.add().ParseFromString(image_example(images[0]))
        log = prediction_log_pb2.PredictionLog(
            classify_log=prediction_log_pb2.ClassifyLog(request=classify))
        writer.write(log.SerializeToString())
    return path


def read_warmup_requests(version_dir: str | Path) -> list:
    """The PredictionLog records of a version folder (to check them, or replay them)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = Path(version_dir) / WARMUP_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no warmup records at {path}")
    records = []
    for raw in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(raw.numpy())
        records.append(log)
    return records
