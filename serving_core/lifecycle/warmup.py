"""Replay a version's ``assets.extra/tf_serving_warmup_requests`` before it takes traffic, as TF Serving does.

The file is a TFRecord file of ``tensorflow.serving.PredictionLog`` protos. TensorFlow is not needed to
read it: the records are read with a pure-Python TFRecord reader (length, masked CRC-32C, data, masked
CRC-32C) and decoded with TF Serving's own ``prediction_log_pb2`` from ``tf_serving_protos``, so the
onnxruntime engine keeps its small footprint in every worker. A record's tensor or examples are read by
the same decoders as a request's (``serving_core.payloads``), within a request's limits.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import numpy as np

from emnist_contract.layout import WARMUP_FILE
from serving_core.errors import ServingError
from serving_core.payloads.limits import ServerLimits
from serving_core.payloads.tensor_protos import tensor_to_array
from serving_core.payloads.tf_examples import example_image
from serving_core.payloads.typed_tensors import pixels_to_images
from tf_serving_protos.tensorflow_serving.apis import prediction_log_pb2

log = logging.getLogger(__name__)

MAX_WARMUP_RECORDS = 1000  # TF Serving's limit
#: What one warmup record may ask for: a request's worth of images (the exporter writes batches of 1
#: and 32), decoded by the same readers as the requests themselves.
WARMUP_LIMITS = ServerLimits(max_instances=1024, max_image_pixels=40_000_000)


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
        size = os.fstat(stream.fileno()).st_size
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
            if length > size - stream.tell():  # read() would allocate the declared length first
                raise WarmupError(f"{path}: truncated record {index}", "DATA_LOSS")
            data = stream.read(length)
            footer = stream.read(4)
            if len(data) < length or len(footer) < 4:
                raise WarmupError(f"{path}: truncated record {index}", "DATA_LOSS")
            if masked_crc32c(data) != struct.unpack("<I", footer)[0]:
                raise WarmupError(f"{path}: corrupted data in record {index}", "DATA_LOSS")
            yield data
            index += 1


# --- PredictionLog ---------------------------------------------------------------------------------


def _refused(where: str, error: ServingError) -> WarmupError:
    return WarmupError(f"{where}: {error}")


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
        budget = WARMUP_LIMITS.budget()
        try:
            array = tensor_to_array(inputs[key], budget, f"input {key!r}")
            return pixels_to_images(array, f"input {key!r}", budget)
        except ServingError as exc:
            raise _refused(where, exc) from None
    if log_type == "classify_log":
        examples = log_message.classify_log.request.input.example_list.examples
        if not examples:
            raise WarmupError(f"{where}: ClassificationRequest has no example_list examples")
        budget = WARMUP_LIMITS.budget()
        try:
            budget.check_count(len(examples))
            return np.concatenate([example_image(example, f"example {number}", budget)
                                   for number, example in enumerate(examples)])
        except ServingError as exc:
            raise _refused(where, exc) from None
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
