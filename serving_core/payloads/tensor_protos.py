"""``tensorflow.TensorProto`` -> numpy, with numpy alone, bounded by the request's limits before it allocates.

Reading follows TensorFlow's own rules (``Tensor::FromProto``): ``tensor_content`` holds the values as
raw little-endian bytes (the fast case, what ``tf.make_tensor_proto`` writes for numeric arrays);
otherwise the dtype's typed field does (``float_val``, ``int_val`` for the small integer types, uint8
included, ``string_val``...), where no value means zeros and fewer values than the shape holds repeat
the last one. That fill rule turns a 43-byte message into any array its shape declares, so the shape is
checked against ``max_instances`` first (``RequestBudget.check_shape``): nothing is allocated for a
tensor a request may not hold.

The message is read by its fields alone (any ``TensorProto``: ``tf_serving_protos``', TensorFlow's own),
with the DataType numbers of ``tf_serving_protos``' ``types_pb2``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import InvalidArgumentError
from serving_core.payloads.limits import RequestBudget
from tf_serving_protos.tensorflow.core.framework import types_pb2

DT_FLOAT, DT_DOUBLE, DT_HALF = types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_HALF
DT_INT8, DT_INT16, DT_INT32 = types_pb2.DT_INT8, types_pb2.DT_INT16, types_pb2.DT_INT32
DT_INT64, DT_UINT8, DT_UINT16 = types_pb2.DT_INT64, types_pb2.DT_UINT8, types_pb2.DT_UINT16
DT_UINT32, DT_UINT64 = types_pb2.DT_UINT32, types_pb2.DT_UINT64
DT_BOOL, DT_STRING = types_pb2.DT_BOOL, types_pb2.DT_STRING

#: dtype enum -> (numpy dtype, the typed field holding its values).
NUMERIC = {
    DT_FLOAT: (np.dtype("<f4"), "float_val"),
    DT_DOUBLE: (np.dtype("<f8"), "double_val"),
    DT_HALF: (np.dtype("<f2"), "half_val"),
    DT_INT32: (np.dtype("<i4"), "int_val"),
    DT_INT16: (np.dtype("<i2"), "int_val"),
    DT_INT8: (np.dtype("i1"), "int_val"),
    DT_UINT8: (np.dtype("u1"), "int_val"),
    DT_UINT16: (np.dtype("<u2"), "int_val"),
    DT_INT64: (np.dtype("<i8"), "int64_val"),
    DT_UINT32: (np.dtype("<u4"), "uint32_val"),
    DT_UINT64: (np.dtype("<u8"), "uint64_val"),
    DT_BOOL: (np.dtype("?"), "bool_val"),
}
#: Typed fields whose wire type is wider than the dtype: their values are range-checked.
_NARROWED = {"int_val", "half_val"}


def dtype_name(enum: int) -> str:
    try:
        return types_pb2.DataType.Name(enum)
    except ValueError:
        return f"DataType {enum}"


def tensor_shape(tensor: Any, where: str) -> tuple[int, ...]:
    """The declared shape, refused when of unknown rank or with a negative dimension."""
    if getattr(tensor.tensor_shape, "unknown_rank", False):
        raise InvalidArgumentError(f"{where}: a tensor of unknown rank cannot be fed")
    shape = tuple([int(dim.size) for dim in tensor.tensor_shape.dim])
    if shape and min(shape) < 0:
        raise InvalidArgumentError(f"{where}: negative dimension in shape {list(shape)}")
    return shape


def _fill(values: np.ndarray, count: int, shape: tuple[int, ...]) -> np.ndarray:
    """TensorFlow's rule for typed fields: none -> zeros, fewer -> the last one repeated."""
    if len(values) < count:
        if len(values) == 0:
            values = np.zeros(count, dtype=values.dtype)
        else:
            values = np.concatenate([values, np.full(count - len(values), values[-1], dtype=values.dtype)])
    return values.reshape(shape)


def _typed_values(tensor: Any, dtype: np.dtype, field: str, where: str) -> np.ndarray:
    """The typed field's values as ``dtype`` (their count is already known to fit the shape)."""
    values = getattr(tensor, field, ())
    if field not in _NARROWED:
        return np.array(values, dtype=dtype)
    wide = np.array(values, dtype=np.int64)
    low, high = (0, 65535) if field == "half_val" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    if len(wide) and (wide.min() < low or wide.max() > high):
        what = "float16 bit patterns" if field == "half_val" else dtype_name(tensor.dtype)
        raise InvalidArgumentError(f"{where}: {field} values must lie in [{low}, {high}] for {what}")
    if field == "half_val":  # half_val holds the float16 bit patterns
        return wide.astype(np.uint16).view(np.float16)
    return wide.astype(dtype)


def tensor_to_array(tensor: Any, budget: RequestBudget, where: str = "input") -> np.ndarray:
    """A ``TensorProto`` as a numpy array (DT_STRING: an object array of bytes); refusals name ``where``.

    A numeric tensor may hold ``max_instances`` images of 784 pixels, a DT_STRING one ``max_instances``
    strings (serialized examples); a larger shape is refused before anything is allocated.
    """
    shape = tensor_shape(tensor, where)
    is_string = tensor.dtype == DT_STRING
    if not is_string and tensor.dtype not in NUMERIC:
        raise InvalidArgumentError(f"{where}: tensors of dtype {dtype_name(tensor.dtype)} are not accepted")
    budget.check_shape(shape, 1 if is_string else NUM_PIXELS, where)
    count = math.prod(shape)
    if is_string:
        if tensor.tensor_content:
            raise InvalidArgumentError(f"{where}: a DT_STRING tensor holds its values in string_val")
        strings = tensor.string_val
        if len(strings) > count:
            raise InvalidArgumentError(
                f"{where}: {len(strings)} values do not fit the shape {list(shape)} ({count} elements)")
        array = np.empty(len(strings), dtype=object)
        array[:] = list(strings)
        return _fill(array, count, shape)
    dtype, field = NUMERIC[tensor.dtype]
    content = tensor.tensor_content  # a copy of the bytes at each read of the field: read once
    if content:
        if len(content) != count * dtype.itemsize:
            raise InvalidArgumentError(
                f"{where}: tensor_content of {len(content)} bytes does not hold shape {list(shape)} of "
                f"{dtype_name(tensor.dtype)} ({count * dtype.itemsize} bytes)"
            )
        return np.frombuffer(content, dtype=dtype).reshape(shape)
    given = len(getattr(tensor, field, ()))
    if given > count:
        raise InvalidArgumentError(
            f"{where}: {given} values do not fit the shape {list(shape)} ({count} elements)")
    return _fill(_typed_values(tensor, dtype, field, where), count, shape)
