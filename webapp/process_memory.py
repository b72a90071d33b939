"""Large buffers go back to the operating system as soon as they are freed (glibc's ``mallopt``).

Why: glibc raises its mmap threshold after the first large buffer is freed, so later large buffers (a
decoded upload, a batch's arrays) come from per-thread heaps that keep the memory once freed. With a few
request threads each decoding one large image in turn, a worker's RSS would grow to one decode per
thread even though the pixel gate lets only one run at a time. A fixed threshold keeps every buffer of
4 MiB or more in its own mapping, returned when freed. Called once per server process (``wsgi.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: glibc's mallopt parameter number for the mmap threshold (malloc.h).
M_MMAP_THRESHOLD = -3
LARGE_BUFFER_BYTES = 4 * 1024 * 1024


def return_large_buffers_to_the_os(threshold: int = LARGE_BUFFER_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; False (and nothing changed) off glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        mallopt = None
    if mallopt is None:
        log.info("no glibc mallopt: large buffers are left to the allocator's defaults")
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
