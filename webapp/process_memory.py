"""Memory freed by one request thread is reused by the next: one glibc malloc arena for the process.

Why: glibc gives each thread that allocates its own arena (up to 8 per core), and an arena keeps the
memory it got once freed. With a few request threads each decoding one large image in turn, a worker's
RSS would grow to one decode per thread even though the pixel gate lets only one run at a time. With a
single arena the next decode reuses the memory the last one freed. (Fixing the mmap threshold instead,
so that large buffers go back to the OS at once, also bounds it but costs page faults on every large
request.) Called once per server process (``wsgi.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: glibc's mallopt parameter number for the most arenas (malloc.h).
M_ARENA_MAX = -8


def share_one_malloc_arena() -> bool:
    """Limit glibc to one malloc arena for this process; False (and nothing changed) off glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        mallopt = None
    if mallopt is None:
        log.info("no glibc mallopt: the allocator keeps its own arenas")
        return False
    return bool(mallopt(M_ARENA_MAX, 1))
