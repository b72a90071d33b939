"""The per-request limits the decoders enforce (the server's settings give their values).

One ``RequestLimits`` is built per server from its settings; ``for_request`` gives each request its own
copy with its deadline and fresh counters of the image files it had decoded, so the work of one request
is bounded (its count of image files, their decoded pixels, its time) and not only its bytes. A front end
calls ``for_request`` once per request; the server's own copy counts no request's files.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from serving_core.deadline import Deadline
from serving_core.errors import InvalidArgumentError, ResourceExhaustedError
from serving_core.image_decoding import PixelGate


@dataclass
class DecodeUsage:
    """What one request has decoded so far (its threads share it)."""

    images: int = 0
    pixels: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass(frozen=True)
class RequestLimits:
    """Most images in one request, most pixels per image file and per request, and the request's time.

    ``max_decoded_images`` and ``max_decoded_pixels`` bound the image files (PNG, JPEG...) one request
    may have decoded; raw tensors and ``.npy`` arrays decode to nothing and count only against
    ``max_instances``. ``gate`` is shared by every request of the process (pixels decoding at once).
    """

    max_instances: int
    max_image_pixels: int
    max_decoded_images: int = 64
    max_decoded_pixels: int = 40_000_000
    gate: PixelGate | None = None
    deadline: Deadline | None = None
    #: This request's counters (None in the server's own copy: only ``for_request`` copies count).
    usage: DecodeUsage | None = field(default=None, compare=False)

    def for_request(self, deadline: Deadline | None) -> RequestLimits:
        """This server's limits for one request: its deadline, nothing decoded yet."""
        return replace(self, deadline=deadline, usage=DecodeUsage())

    def check_count(self, count: int) -> None:
        """Refuse an empty request or one with more images than ``max_instances``."""
        if count > self.max_instances:
            raise InvalidArgumentError(
                f"{count} instances in one request is over the limit MAX_INSTANCES={self.max_instances}"
            )
        if count == 0:
            raise InvalidArgumentError("No values in 'instances' array")

    def check_image_files(self, count: int) -> None:
        """Refuse a request that holds more image files than ``max_decoded_images`` (before decoding)."""
        if count > self.max_decoded_images:
            raise InvalidArgumentError(
                f"{count} image files in one request is over the limit MAX_DECODED_IMAGES="
                f"{self.max_decoded_images} (send raw pixels or .npy for larger batches)")

    def check(self, step: str) -> None:
        """The request's deadline (504 when it has passed)."""
        if self.deadline is not None:
            self.deadline.check(step)

    @contextlib.contextmanager
    def decoding(self, pixels: int) -> Iterator[None]:
        """Count one image file of ``pixels`` decoded pixels against this request, then hold the gate."""
        images, total = 1, pixels
        if self.usage is not None:
            with self.usage.lock:
                images, total = self.usage.images + 1, self.usage.pixels + pixels
                self.usage.images, self.usage.pixels = images, total
        self.check_image_files(images)
        if total > self.max_decoded_pixels:
            raise ResourceExhaustedError(
                f"the request's image files decode to {total} pixels or more, over the limit "
                f"MAX_DECODED_PIXELS={self.max_decoded_pixels} per request", http_status=413)
        self.check(f"decoding image file {images}")
        if self.gate is None:
            yield
            return
        with self.gate.hold(pixels, self.deadline):
            yield
