"""Replay a version's ``assets.extra/tf_serving_warmup_requests`` before it takes traffic, as TF Serving does.

The file is a TFRecord file of ``tensorflow.serving.PredictionLog`` protos. Importing the generated
``prediction_log_pb2`` module imports all of TensorFlow (its ``tensor_pb2`` lives inside the ``tensorflow``
package) in every worker, which would defeat the onnxruntime engine's small footprint. So the records
are read with a pure-Python TFRecord reader (length, masked CRC-32C, data, masked CRC-32C) and decoded with
a subset of the very same message definitions (same package, names and field numbers), built at run time in
a private descriptor pool. Protobuf skips the fields the subset leaves out; tests check the subset against
records written with the real ``prediction_log_pb2``. A record's tensor or examples are read by the same
decoders as a request's (``serving_core.payloads``), within a request's limits.
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


def write_tfrecords(path: Path, records: list[bytes]) -> None:
    """Write records in TFRecord framing (used by tests and tools that build warmup files without TF)."""
    with open(path, "wb") as stream:
        for record in records:
            length = struct.pack("<Q", len(record))
            stream.write(length + struct.pack("<I", masked_crc32c(length)))
            stream.write(record + struct.pack("<I", masked_crc32c(record)))


# --- PredictionLog subset -------------------------------------------------------------------------


@cache
def prediction_log_class() -> type:
    """``tensorflow.serving.PredictionLog`` restricted to predict and classify logs (see module doc)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FieldDescriptorProto
    repeated, optional = fdp.LABEL_REPEATED, fdp.LABEL_OPTIONAL

    def message(file, name, fields, map_entry=False):  # noqa: ANN001, ANN202
        msg = file.message_type.add(name=name)
        if map_entry:
            msg.options.map_entry = True
        for field_name, number, kind, type_name, label, packed in fields:
            field = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name
            if packed:
                field.options.packed = True
        return msg

    f = descriptor_pb2.FileDescriptorProto(
        name="emnist_webapp/prediction_log_subset.proto", package="tensorflow.serving", syntax="proto3"
    )
    msg, string, bytes_, i64, i32, flt, dbl = (
        fdp.TYPE_MESSAGE, fdp.TYPE_STRING, fdp.TYPE_BYTES, fdp.TYPE_INT64, fdp.TYPE_INT32, fdp.TYPE_FLOAT,
        fdp.TYPE_DOUBLE,
    )
    boolean, u32, u64 = fdp.TYPE_BOOL, fdp.TYPE_UINT32, fdp.TYPE_UINT64
    p = ".tensorflow.serving."
    message(f, "Dim", [("size", 1, i64, None, optional, False), ("name", 2, string, None, optional, False)])
    message(f, "TensorShapeProto", [("dim", 2, msg, p + "Dim", repeated, False),
                                     ("unknown_rank", 3, boolean, None, optional, False)])
    message(f, "TensorProto", [
        ("dtype", 1, i32, None, optional, False),
        ("tensor_shape", 2, msg, p + "TensorShapeProto", optional, False),
        ("tensor_content", 4, bytes_, None, optional, False),
        ("float_val", 5, flt, None, repeated, True),
        ("double_val", 6, dbl, None, repeated, True),
        ("int_val", 7, i32, None, repeated, True),
        ("string_val", 8, bytes_, None, repeated, False),
        ("int64_val", 10, i64, None, repeated, True),
        ("bool_val", 11, boolean, None, repeated, True),
        ("half_val", 13, i32, None, repeated, True),
        ("uint32_val", 16, u32, None, repeated, True),
        ("uint64_val", 17, u64, None, repeated, True),
    ])
    message(f, "ModelSpec", [("name", 1, string, None, optional, False),
                             ("signature_name", 3, string, None, optional, False)])
    message(f, "InputsEntry", [("key", 1, string, None, optional, False),
                               ("value", 2, msg, p + "TensorProto", optional, False)], map_entry=True)
    message(f, "PredictRequest", [("model_spec", 1, msg, p + "ModelSpec", optional, False),
                                  ("inputs", 2, msg, p + "InputsEntry", repeated, False)])
    message(f, "BytesList", [("value", 1, bytes_, None, repeated, False)])
    message(f, "FloatList", [("value", 1, flt, None, repeated, True)])
    message(f, "Int64List", [("value", 1, i64, None, repeated, True)])
    feature = message(f, "Feature", [("bytes_list", 1, msg, p + "BytesList", optional, False),
                                     ("float_list", 2, msg, p + "FloatList", optional, False),
                                     ("int64_list", 3, msg, p + "Int64List", optional, False)])
    feature.oneof_decl.add(name="kind")
    for field in feature.field:
        field.oneof_index = 0
    message(f, "FeatureEntry", [("key", 1, string, None, optional, False),
                                ("value", 2, msg, p + "Feature", optional, False)], map_entry=True)
    message(f, "Features", [("feature", 1, msg, p + "FeatureEntry", repeated, False)])
    message(f, "Example", [("features", 1, msg, p + "Features", optional, False)])
    message(f, "ExampleList", [("examples", 1, msg, p + "Example", repeated, False)])
    message(f, "Input", [("example_list", 1, msg, p + "ExampleList", optional, False)])
    message(f, "ClassificationRequest", [("model_spec", 1, msg, p + "ModelSpec", optional, False),
                                         ("input", 2, msg, p + "Input", optional, False)])
    message(f, "PredictLog", [("request", 1, msg, p + "PredictRequest", optional, False)])
    message(f, "ClassifyLog", [("request", 1, msg, p + "ClassificationRequest", optional, False)])
    log_types = [("classify_log", 2), ("regress_log", 3), ("multi_inference_log", 4), ("session_run_log", 5),
                 ("predict_log", 6), ("predict_streamed_log", 7)]
    # Every log type of the real message is declared (as an empty message unless decoded) so that the
    # oneof tells which one a record holds and unsupported ones are refused by name.
    for name, _ in log_types:
        if name not in ("classify_log", "predict_log"):
            message(f, "Unsupported_" + name, [])
    prediction_log = message(f, "PredictionLog", [
        (name, number, msg, p + ("PredictLog" if name == "predict_log" else "ClassifyLog"
                                 if name == "classify_log" else "Unsupported_" + name), optional, False)
        for name, number in log_types
    ])
    prediction_log.oneof_decl.add(name="log_type")
    for field in prediction_log.field:
        field.oneof_index = 0

    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.PredictionLog"))


def _refused(where: str, error: ServingError) -> WarmupError:
    return WarmupError(f"{where}: {error}")


def decode_warmup_record(record: bytes, where: str = "warmup record") -> np.ndarray:
    """The float32 [N,784] batch a serialized PredictionLog asks to predict or classify."""
    from google.protobuf.message import DecodeError

    log_message = prediction_log_class()()
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
