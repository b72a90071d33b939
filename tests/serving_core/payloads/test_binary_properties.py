"""Binary bodies and multipart files: ``.npy`` arrays whose header declares any dtype and shape (huge,
empty, overflowing) over data of any length, raw pixel bytes and image-looking bytes, decode to images
within the limits or are refused with a ``ServingError``, within bounded memory."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from emnist_contract.tensors import NUM_PIXELS
from serving_core.payloads.binary import body_to_images, files_to_images
from serving_core.payloads.codecs import NPY_MAGIC
from tests.support.decoding import LIMITS, budget, decode_bounded, properties

DESCRS = ["<f4", "<f8", "<f2", "|u1", ">f4", "<i4", "|b1", "<c8", "|O", "V8", "<U3", "xyz"]
DIMS = st.one_of(st.integers(0, 6), st.sampled_from([28, NUM_PIXELS, 2**31, 2**40, 2**62, 2**63 - 1, 2**64]),
                 st.integers(-3, -1))


@st.composite
def npy_files(draw) -> bytes:
    """A .npy file: a header (version 1 or 2, sometimes a lying length field), then some data."""
    descr = draw(st.sampled_from(DESCRS))
    shape = tuple(draw(st.lists(DIMS, max_size=4)))
    header = f"{{'descr': '{descr}', 'fortran_order': {draw(st.booleans())}, 'shape': {shape!r}, }}"
    text = header.encode() + b" " * draw(st.integers(0, 8)) + b"\n"
    version = draw(st.sampled_from([1, 2, 3]))
    length = len(text) if draw(st.integers(0, 4)) else draw(st.integers(0, 300))
    field = struct.pack("<I" if version == 2 else "<H", min(length, 0xFFFF))
    try:
        expected = int(np.prod(shape, dtype=object)) * np.dtype(descr).itemsize if all(
            d >= 0 for d in shape) else -1
    except TypeError:
        expected = -1
    size = draw(st.one_of(st.integers(0, 40), st.sampled_from([NUM_PIXELS, 4 * NUM_PIXELS])))
    if 0 <= expected <= 8 * NUM_PIXELS * (LIMITS.max_instances + 1) and draw(st.booleans()):
        size = expected
    return NPY_MAGIC + bytes([version, 0]) + field + text + bytes([draw(st.integers(0, 255))]) * size


BODIES = st.one_of(
    npy_files(),
    st.binary(max_size=64),
    st.integers(0, 6).map(lambda n: np.full(n * NUM_PIXELS, 0.5, "<f4").tobytes()),
    st.just(bytes(NUM_PIXELS)),
    st.binary(max_size=48).map(lambda tail: b"\x89PNG\r\n\x1a\n" + tail),
    st.binary(max_size=48).map(lambda tail: b"\xff\xd8\xff" + tail),
)


@properties(max_examples=1500)
@given(BODIES)
def test_any_binary_body_decodes_within_the_limits_or_is_refused(body):
    images = decode_bounded(lambda: body_to_images(body, budget()), len(body))
    if images is not None:
        assert 1 <= len(images) <= LIMITS.max_instances and images.shape[1:] == (NUM_PIXELS,)


@properties(max_examples=600)
@given(st.lists(st.tuples(st.sampled_from(["a.png", "b.npy", ""]), BODIES),
                max_size=LIMITS.max_instances + 1))
def test_any_multipart_files_decode_within_the_limits_or_are_refused(files):
    images = decode_bounded(lambda: files_to_images(files, budget()), sum(len(data) for _, data in files))
    if images is not None:
        assert 1 <= len(images) <= LIMITS.max_instances and np.isfinite(images).all()
