"""Binary tensor encodings: ``.npy`` bodies and answers, and TF Serving's ``{"b64": ...}`` strings.

Why not ``np.load`` / ``base64``: the standard library's base64 decoder is several times slower than
``pybase64`` (SIMD libbase64, the same strict validation as ``base64.b64decode(validate=True)``), and
``np.load`` re-parses the same header with ``ast.literal_eval`` on every request, where numpy's own header
reader here parses each distinct header once and the result is cached (docs/benchmarks.md has the figures).
"""

from __future__ import annotations

import io
import math
import struct
from functools import lru_cache

import numpy as np
import pybase64

NPY_MAGIC = b"\x93NUMPY"
#: ``.npy`` format versions we read -> (struct format, size) of the header-length field.
_HEADER_LENGTH_FIELDS = {1: ("<H", 2), 2: ("<I", 4)}
_PREAMBLE = len(NPY_MAGIC) + 2  # magic, then major and minor version bytes


def decode_base64(text: str | bytes) -> bytes:
    """Strict base64 (RFC 4648 alphabet and padding, no whitespace): ValueError when invalid."""
    if not isinstance(text, str | bytes):
        raise ValueError("base64 data must be a string")
    return pybase64.b64decode(text, validate=True)  # binascii.Error is a ValueError


#: What a refused header is told (numpy's own messages can quote parser objects with heap addresses).
INVALID_HEADER = ("invalid .npy header: expected a Python dict literal with 'descr' (a dtype), "
                  "'fortran_order' (True or False) and 'shape' (a tuple of sizes)")


@lru_cache(maxsize=64)
def _npy_header(preamble_and_header: bytes) -> tuple[np.dtype, tuple[int, ...], bool]:
    """(dtype, shape, fortran_order) from a ``.npy`` header, parsed by numpy's own reader.

    Any failure of the reader (numpy raises ValueError, SyntaxError, tokenize.TokenError, TypeError,
    RecursionError... for malformed headers) becomes one ValueError whose message quotes nothing of the
    parser's internals.
    """
    stream = io.BytesIO(preamble_and_header)
    try:
        major, _ = np.lib.format.read_magic(stream)
        reader = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = reader(stream)
    except Exception:  # whatever numpy's literal parser raises, the header is invalid
        raise ValueError(INVALID_HEADER) from None
    if not isinstance(dtype, np.dtype) or not isinstance(shape, tuple):
        raise ValueError(INVALID_HEADER)
    if any(not isinstance(size, int) or size < 0 for size in shape):
        raise ValueError(f"invalid .npy header: shape {list(shape)} has a negative size")
    if dtype.hasobject:
        raise ValueError(f".npy arrays of dtype {dtype} need pickle, which is not accepted")
    return dtype, tuple(shape), bool(fortran_order)


def npy_header(data: bytes) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """(dtype, shape, fortran_order, where the data starts) of the ``.npy`` file held in ``data``, read
    from its header alone (nothing of the declared size is allocated): ValueError when malformed."""
    if not data.startswith(NPY_MAGIC) or len(data) < _PREAMBLE:
        raise ValueError("no .npy magic string at the start")
    field = _HEADER_LENGTH_FIELDS.get(data[len(NPY_MAGIC)])
    if field is None:
        raise ValueError(f".npy format version {data[len(NPY_MAGIC)]} is not supported (1 or 2)")
    fmt, size = field
    if len(data) < _PREAMBLE + size:
        raise ValueError("truncated .npy header")
    (header_length,) = struct.unpack_from(fmt, data, _PREAMBLE)
    start = _PREAMBLE + size + header_length
    if len(data) < start:
        raise ValueError("truncated .npy header")
    return *_npy_header(data[:start]), start


def load_npy(data: bytes) -> np.ndarray:
    """The array of a ``.npy`` file held in ``data`` (a read-only view, no copy): ValueError when malformed.

    Stricter than ``np.load``: the data after the header must be exactly the array's size.
    """
    dtype, shape, fortran_order, start = npy_header(data)
    count = math.prod(shape)
    expected = count * dtype.itemsize
    if len(data) - start != expected:
        raise ValueError(
            f"the header announces {list(shape)} {dtype} ({expected} bytes) but {len(data) - start} "
            "bytes of data follow"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=start)
    return array.reshape(shape, order="F" if fortran_order else "C")


@lru_cache(maxsize=64)
def _npy_header_bytes(descr: str, shape: tuple[int, ...]) -> bytes:
    stream = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(stream, header)
    return stream.getvalue()


def dump_npy(array: np.ndarray) -> bytes:
    """``array`` as the bytes of a ``.npy`` file (what ``np.save`` writes), header written once per shape."""
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject:
        raise ValueError(f"arrays of dtype {array.dtype} cannot be written without pickle")
    header = _npy_header_bytes(np.lib.format.dtype_to_descr(array.dtype), array.shape)
    return header + array.tobytes()
