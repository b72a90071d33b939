"""Replay a version's ``assets.extra/tf_serving_warmup_requests`` before it takes traffic, as TF Serving does.

The file is a TFRecord file of ``tensorflow.serving.PredictionLog`` protos. TensorFlow is not needed to
read it: the records are read with a pure-Python TFRecord reader (length, masked CRC-32C, data, masked
CRC-32C) and decoded with TF Serving's own ``prediction_log_pb2`` from ``tf_serving_protos``, so the
onnxruntime engine keeps its small footprint in every worker.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import numpy as np

from emnist_contract.layout import WARMUP_FILE
from emnist_contract.tensors import NUM_PIXELS
from tf_serving_protos.tensorflow.core.framework import tensor_pb2, types_pb2
from tf_serving_protos.tensorflow_serving.apis import prediction_log_pb2

log = logging.getLogger(__name__)

MAX_WARMUP_RECORDS = 1000  # TF Serving's limit


class WarmupError(Exception):
    """The warmup file is unreadable or a warmup request failed; the version must not become AVAILABLE."""

    def __init__(self, message: str, error_code: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.error_code = error_code


# --- TFRecord ---------------------------------------------------------------------------------------


@cache
def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord uses."""
    table = _crc32c_table()
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_tfrecords(path: Path) -> Iterator[bytes]:
    """Yield the records of an uncompressed TFRecord file, checking both checksums of each."""
    with open(path, "rb") as stream:
        index = 0
        while True:
            header = stream.read(12)
            if not header:
                return
            if len(header) < 12:
                raise WarmupError(f"{path}: truncated record header at record {index}", "DATA_LOSS")
            length, length_crc = struct.unpack("<QI", header)
            if masked_crc32c(header[:8]) != length_crc:
                raise WarmupError(f"{path}: corrupted record length at record {index}", "DATA_LOSS")
            data = stream.read(length)
            footer = stream.read(4)
            if len(data) < length or len(footer) < 4:
                raise WarmupError(f"{path}: truncated record {index}", "DATA_LOSS")
            if masked_crc32c(data) != struct.unpack("<I", footer)[0]:
                raise WarmupError(f"{path}: corrupted data in record {index}", "DATA_LOSS")
            yield data
            index += 1


# --- PredictionLog ---------------------------------------------------------------------------------


def _tensor_to_array(tensor: tensor_pb2.TensorProto, where: str) -> np.ndarray:
    shape = [dim.size for dim in tensor.tensor_shape.dim]
    if tensor.dtype == types_pb2.DT_FLOAT:
        dtype, values = np.float32, tensor.float_val
    elif tensor.dtype == types_pb2.DT_DOUBLE:
        dtype, values = np.float64, tensor.double_val
    else:
        raise WarmupError(f"{where}: input dtype {tensor.dtype} is not DT_FLOAT or DT_DOUBLE")
    count = int(np.prod(shape)) if shape else 1
    if tensor.tensor_content:
        array = np.frombuffer(tensor.tensor_content, dtype=np.dtype(dtype).newbyteorder("<"))
    elif len(values) == count or (len(values) == 1 and count > 0):
        # TF fills a tensor from a single repeated value, as tensor_util.MakeNdarray does.
        array = np.full(count, values[0], dtype) if len(values) == 1 else np.asarray(values, dtype)
    else:
        raise WarmupError(f"{where}: {len(values)} values for shape {shape}")
    if array.size != count:
        raise WarmupError(f"{where}: {array.size} values for shape {shape}")
    return _as_batch(array.astype(np.float32), where)


def _as_batch(array: np.ndarray, where: str) -> np.ndarray:
    if array.size % NUM_PIXELS:
        raise WarmupError(f"{where}: {array.size} values is not a multiple of {NUM_PIXELS} pixels")
    return array.reshape(-1, NUM_PIXELS)


def decode_warmup_record(record: bytes, where: str = "warmup record") -> np.ndarray:
    """The float32 [N,784] batch a serialized PredictionLog asks to predict or classify."""
    from google.protobuf.message import DecodeError

    log_message = prediction_log_pb2.PredictionLog()
    try:
        log_message.ParseFromString(record)
    except DecodeError as exc:
        raise WarmupError(f"{where}: not a PredictionLog: {exc}", "DATA_LOSS") from exc
    log_type = log_message.WhichOneof("log_type")
    if log_type == "predict_log":
        inputs = log_message.predict_log.request.inputs
        if not inputs:
            raise WarmupError(f"{where}: PredictRequest has no inputs")
        key = "images" if "images" in inputs else next(iter(inputs)) if len(inputs) == 1 else None
        if key is None:
            raise WarmupError(f"{where}: PredictRequest inputs {sorted(inputs)} have no 'images'")
        return _tensor_to_array(inputs[key], f"{where} input {key!r}")
    if log_type == "classify_log":
        examples = log_message.classify_log.request.input.example_list.examples
        if not examples:
            raise WarmupError(f"{where}: ClassificationRequest has no example_list examples")
        rows = []
        for number, example in enumerate(examples):
            feature = example.features.feature
            if "images" not in feature:
                raise WarmupError(f"{where}: example {number} has no float feature 'images'")
            rows.append(np.asarray(feature["images"].float_list.value, np.float32))
        return _as_batch(np.concatenate(rows), where)
    # The message TF Serving gives for the other log types.
    raise WarmupError(f"Unsupported log_type for warmup: {log_type}")


def run_warmup(version_dir: Path, predict: Callable[[np.ndarray], np.ndarray], num_classes: int) -> int:
    """Replay the warmup requests of ``version_dir`` through ``predict``; return how many ran (0: no file)."""
    path = Path(version_dir) / WARMUP_FILE
    if not path.is_file():
        return 0
    count = 0
    for index, record in enumerate(read_tfrecords(path)):
        if index >= MAX_WARMUP_RECORDS:
            raise WarmupError(f"{path}: more than {MAX_WARMUP_RECORDS} warmup records")
        batch = decode_warmup_record(record, f"{path} record {index}")
        try:
            scores = np.asarray(predict(batch))
        except Exception as exc:  # the engine's own error, whatever its type
            raise WarmupError(f"{path} record {index}: warmup request failed: {exc}", "UNKNOWN") from exc
        if scores.shape != (len(batch), num_classes):
            raise WarmupError(
                f"{path} record {index}: scores shape {scores.shape}, expected {(len(batch), num_classes)}"
            )
        count += 1
    log.debug("warmed up %s with %d records", version_dir, count)
    return count
