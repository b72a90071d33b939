"""How many pixels this process decodes at once: the bound a request's image waits on, shared by every
request of the process (the server's limits hold one)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from serving_core.deadline import Deadline


class PixelGate:
    """At most ``capacity`` pixels decoded at once in this process; an image larger than that runs alone."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a pixel gate needs a capacity of at least 1, got {capacity}")
        self.capacity = capacity
        self.in_flight = 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int, deadline: Deadline | None) -> Iterator[None]:
        """Wait for room for ``pixels`` (ServerBusyError when the deadline comes first), then hold it."""
        with self._changed:
            while self.in_flight and self.in_flight + pixels > self.capacity:
                remaining = None if deadline is None else deadline.remaining()
                if remaining is not None and remaining <= 0:
                    raise deadline.busy("room to decode its image (other large images were decoding)")
                self._changed.wait(remaining)
            self.in_flight += pixels
        try:
            yield
        finally:
            with self._changed:
                self.in_flight -= pixels
                self._changed.notify_all()
