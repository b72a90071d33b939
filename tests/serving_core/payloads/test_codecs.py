"""The binary encodings: .npy read exactly as numpy writes it (and refused when it is not), strict base64."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from serving_core.payloads.codecs import decode_base64, dump_npy, load_npy


def saved(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    if version is None:
        np.save(buffer, array)
    else:
        np.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


ARRAYS = [
    np.arange(12, dtype=">f4").reshape(3, 4),
    np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
    np.zeros((0, 784), np.uint8),
    np.array(7, dtype=np.uint8),
    np.random.default_rng(0).random((128, 62), dtype=np.float32),
]


@pytest.mark.parametrize("index", range(len(ARRAYS)))
@pytest.mark.parametrize("version", [None, (1, 0), (2, 0)])
def test_load_npy_reads_what_numpy_writes(index, version):
    array = ARRAYS[index]
    loaded = load_npy(saved(array, version))
    assert loaded.dtype == array.dtype and loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)


@pytest.mark.parametrize("index", range(len(ARRAYS)))
def test_dump_npy_writes_what_numpy_saves(index):
    array = np.ascontiguousarray(ARRAYS[index])
    assert dump_npy(array) == saved(array)


def test_the_header_cache_does_not_mix_shapes():
    first, second = np.zeros((2, 3), np.float32), np.ones((3, 2), np.float32)
    assert load_npy(dump_npy(first)).shape == (2, 3)
    assert load_npy(dump_npy(second)).shape == (3, 2)
    assert load_npy(dump_npy(first)).shape == (2, 3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "magic"),
        (b"PK\x03\x04 a zip file", "magic"),
        (b"\x93NUMPY\x07\x00", "version 7"),
        (b"\x93NUMPY\x01\x00\xff", "truncated"),
        (saved(np.zeros(4, np.float32))[:20], "truncated"),
        (saved(np.zeros(4, np.float32))[:-1], "15 bytes"),
        (saved(np.zeros(4, np.float32)) + b"\x00", "17 bytes"),
        (saved(np.array([{"a": 1}], dtype=object)), "pickle"),
    ],
)
def test_load_npy_refuses_malformed_files(data, message):
    with pytest.raises(ValueError, match=message):
        load_npy(data)


def test_decode_base64_is_strict():
    assert decode_base64(base64.b64encode(b"\x00\xffpixels").decode()) == b"\x00\xffpixels"
    for bad in ("QQ=", "Q Q==", "QQ==\n", "QQ==QQ==", "Qé==", 12):
        with pytest.raises(ValueError):
            decode_base64(bad)


def test_random_npy_headers_are_refused_with_a_value_error_and_no_addresses():
    """Whatever numpy's header reader raises (TokenError, SyntaxError, ...) comes out as one ValueError."""
    from tests.support.npy_headers import random_npy_files

    outcomes = {"loaded": 0, "refused": 0}
    for data in random_npy_files(2500, seed=11):
        try:
            load_npy(data)
            outcomes["loaded"] += 1
        except ValueError as exc:
            assert " at 0x" not in str(exc), str(exc)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 2000  # the fuzz reaches the header parser, not only the magic check


def test_negative_shapes_are_refused():
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 784), }"
    data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
    with pytest.raises(ValueError, match="negative size"):
        load_npy(data)

