"""numpy -> ``tensorflow.TensorProto``: the answers' tensors, written as ``tensor_content`` (strings as
``string_val``), which is what ``tf.make_tensor_proto`` writes and ``tf.make_ndarray`` reads fastest.

Reading one is the serving core's (``serving_core.payloads.tensor_protos``, bounded by the request's
limits); both use the same DataType numbers and element types.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serving_core.payloads.tensor_protos import DT_STRING, NUMERIC
from tf_serving_protos.tensorflow.core.framework import tensor_pb2

_DATA_TYPE_OF = {dtype.newbyteorder("="): enum for enum, (dtype, _) in NUMERIC.items()}


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
        tensor.dtype = DT_STRING
        tensor.string_val.extend(
            value if isinstance(value, bytes) else str(value).encode("utf-8") for value in array.reshape(-1))
        return tensor
    native = array.dtype.newbyteorder("=")
    if native not in _DATA_TYPE_OF:
        raise TypeError(f"arrays of dtype {array.dtype} have no TensorProto dtype here")
    tensor.dtype = _DATA_TYPE_OF[native]
    little_endian = NUMERIC[tensor.dtype][0]
    tensor.tensor_content = np.ascontiguousarray(array, dtype=little_endian).tobytes()
    return tensor
