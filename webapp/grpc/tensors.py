"""``tensorflow.TensorProto`` <-> numpy, with numpy alone (no ``tf.make_ndarray``).

Reading follows TensorFlow's own rules (``Tensor::FromProto``): ``tensor_content`` holds the values as
raw little-endian bytes (the fast case, what ``tf.make_tensor_proto`` writes for numeric arrays);
otherwise the dtype's typed field does (``float_val``, ``int_val`` for the small integer types, uint8
included, ``string_val``...), where no value means zeros and fewer values than the shape holds repeat
the last one. Answers are written as ``tensor_content`` (strings as ``string_val``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from serving_core.errors import InvalidArgumentError
from tf_serving_protos.tensorflow.core.framework import tensor_pb2, types_pb2

DataType = types_pb2.DataType

#: dtype enum -> (numpy dtype, the typed field holding its values).
_NUMERIC = {
    DataType.DT_FLOAT: (np.dtype("<f4"), "float_val"),
    DataType.DT_DOUBLE: (np.dtype("<f8"), "double_val"),
    DataType.DT_HALF: (np.dtype("<f2"), "half_val"),
    DataType.DT_INT32: (np.dtype("<i4"), "int_val"),
    DataType.DT_INT16: (np.dtype("<i2"), "int_val"),
    DataType.DT_INT8: (np.dtype("i1"), "int_val"),
    DataType.DT_UINT8: (np.dtype("u1"), "int_val"),
    DataType.DT_UINT16: (np.dtype("<u2"), "int_val"),
    DataType.DT_INT64: (np.dtype("<i8"), "int64_val"),
    DataType.DT_UINT32: (np.dtype("<u4"), "uint32_val"),
    DataType.DT_UINT64: (np.dtype("<u8"), "uint64_val"),
    DataType.DT_BOOL: (np.dtype("?"), "bool_val"),
}
_DATA_TYPE_OF = {dtype.newbyteorder("="): enum for enum, (dtype, _) in _NUMERIC.items()}


def dtype_name(enum: int) -> str:
    try:
        return DataType.Name(enum)
    except ValueError:
        return f"DataType {enum}"


def _shape(tensor: Any, where: str) -> tuple[int, ...]:
    if tensor.tensor_shape.unknown_rank:
        raise InvalidArgumentError(f"{where}: a tensor of unknown rank cannot be fed")
    shape = tuple([dim.size for dim in tensor.tensor_shape.dim])
    if shape and min(shape) < 0:
        raise InvalidArgumentError(f"{where}: negative dimension in shape {list(shape)}")
    return shape


def _fill(values: np.ndarray, count: int, shape: tuple[int, ...], where: str) -> np.ndarray:
    """TensorFlow's rule for typed fields: none -> zeros, fewer -> the last one repeated."""
    if len(values) > count:
        raise InvalidArgumentError(
            f"{where}: {len(values)} values do not fit the shape {list(shape)} ({count} elements)")
    if len(values) < count:
        if len(values) == 0:
            values = np.zeros(count, dtype=values.dtype)
        else:
            values = np.concatenate([values, np.full(count - len(values), values[-1], dtype=values.dtype)])
    return values.reshape(shape)


def tensor_to_array(tensor: Any, where: str = "input") -> np.ndarray:
    """A ``TensorProto`` as a numpy array (DT_STRING: an object array of bytes); refusals name ``where``."""
    shape = _shape(tensor, where)
    count = math.prod(shape)
    if tensor.dtype == DataType.DT_STRING:
        if tensor.tensor_content:
            raise InvalidArgumentError(f"{where}: a DT_STRING tensor holds its values in string_val")
        return _fill(np.array(list(tensor.string_val), dtype=object), count, shape, where)
    if tensor.dtype not in _NUMERIC:
        raise InvalidArgumentError(f"{where}: tensors of dtype {dtype_name(tensor.dtype)} are not accepted")
    dtype, field = _NUMERIC[tensor.dtype]
    if tensor.tensor_content:
        content = tensor.tensor_content
        if len(content) != count * dtype.itemsize:
            raise InvalidArgumentError(
                f"{where}: tensor_content of {len(content)} bytes does not hold shape {list(shape)} of "
                f"{dtype_name(tensor.dtype)} ({count * dtype.itemsize} bytes)"
            )
        return np.frombuffer(content, dtype=dtype).reshape(shape)
    values = getattr(tensor, field)
    if tensor.dtype == DataType.DT_HALF:  # half_val holds the float16 bit patterns
        array = np.array(values, dtype=np.uint16).view(np.float16)
    elif field == "int_val" and dtype.itemsize < 4:
        array = np.array(values, dtype=np.int64)
        limits = np.iinfo(dtype)
        if len(array) and (array.min() < limits.min or array.max() > limits.max):
            raise InvalidArgumentError(
                f"{where}: int_val values must lie in [{limits.min}, {limits.max}] for "
                f"{dtype_name(tensor.dtype)}"
            )
        array = array.astype(dtype)
    else:
        array = np.array(values, dtype=dtype)
    return _fill(array, count, shape, where)


def array_to_tensor(array: np.ndarray, tensor: Any = None) -> Any:
    """A numpy array as a ``TensorProto`` (``tensor``, filled in place, or a new one): ``tensor_content``
    for numbers, ``string_val`` for strings."""
    array = np.asarray(array)
    if tensor is None:
        tensor = tensor_pb2.TensorProto()
    dims = tensor.tensor_shape.dim
    for size in array.shape:
        dims.add(size=size)
    if array.dtype == object or array.dtype.kind in "SU":
        tensor.dtype = DataType.DT_STRING
        tensor.string_val.extend(
            value if isinstance(value, bytes) else str(value).encode("utf-8") for value in array.reshape(-1))
        return tensor
    native = array.dtype.newbyteorder("=")
    if native not in _DATA_TYPE_OF:
        raise TypeError(f"arrays of dtype {array.dtype} have no TensorProto dtype here")
    tensor.dtype = _DATA_TYPE_OF[native]
    little_endian = _NUMERIC[tensor.dtype][0]
    tensor.tensor_content = np.ascontiguousarray(array, dtype=little_endian).tobytes()
    return tensor
