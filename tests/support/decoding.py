"""What the decoders' property tests share: one reproducible hypothesis profile, and the check that a
decode raises nothing but ``ServingError`` and allocates no more than its limits and input allow.

The allocation is tracemalloc's peak during the decode (numpy reports its buffers to tracemalloc), against
``allocation_bound``: a fixed allowance for the interpreter, a multiple of the input's size (parsed JSON
and protobuf objects take more room than their bytes) and a few float64 copies of the largest tensor the
limits admit. A decoder that allocates what a message declares, rather than what it carries, is caught by
the last term: a 43-byte TensorProto declaring [250000, 784] would need 784 MB.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings

from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import ServingError
from serving_core.payloads.limits import RequestBudget, ServerLimits

#: Small limits, so that a tensor over them is cheap to build and a bound on them is tight.
LIMITS = ServerLimits(max_instances=4, max_image_pixels=64 * 64, max_decoded_images=4,
                      max_decoded_pixels=4 * 64 * 64)
#: The interpreter's own allocations during a decode (frames, exceptions and their messages, caches).
FIXED_ALLOWANCE = 1 << 20
#: Parsed objects per input byte (a JSON float is a 24-byte object and an 8-byte list slot for 2+ bytes).
INPUT_FACTOR = 40
#: float64 copies of the largest tensor the limits admit (conversions, reshapes, concatenation).
TENSOR_COPIES = 4


def budget() -> RequestBudget:
    """A new request's budget against ``LIMITS`` (a budget counts the image files its request decoded, so
    each decode gets its own)."""
    return LIMITS.budget()


def properties(max_examples: int) -> settings:
    """Hypothesis settings for one property: derandomized (the same inputs on every run and machine), no
    example database written to disk, no per-example deadline (the machine is shared)."""
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                     suppress_health_check=list(HealthCheck), print_blob=False)


def allocation_bound(input_size: int, limits: ServerLimits = LIMITS) -> int:
    """Most bytes a decode of ``input_size`` bytes may allocate (see the module doc); an image file's
    decoded pixels (4 bytes each, a few copies) count against ``max_image_pixels``."""
    largest = limits.max_instances * NUM_PIXELS * 8
    pixels = 16 * limits.max_image_pixels
    return FIXED_ALLOWANCE + INPUT_FACTOR * input_size + TENSOR_COPIES * largest + pixels


def _traced_decode(decode: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        try:
            result = decode()
        except ServingError:
            result = None
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def decode_bounded(decode: Callable[[], Any], input_size: int, limits: ServerLimits = LIMITS) -> Any:
    """``decode()``'s result (None when refused with a ``ServingError``); any other exception propagates,
    and an allocation peak over ``allocation_bound(input_size, limits)`` fails the test.

    tracemalloc runs only around the decode: tracing hypothesis' own work would slow every example. A peak
    over the bound is measured once more: a first call may pay once for the process (a lazy import, a
    codec's tables), where a decoder that allocates too much does it every time.
    """
    bound = allocation_bound(input_size, limits)
    result, peak = _traced_decode(decode)
    if peak > bound:
        result, peak = _traced_decode(decode)
    assert peak <= bound, f"decoding {input_size} bytes allocated {peak} bytes, over the bound {bound}"
    return result
