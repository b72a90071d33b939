"""The server's request limits, and each request's budget against them.

Two types on purpose: ``ServerLimits`` is the server's configuration (built once from its settings and
shared), ``RequestBudget`` is one request's account against it (its deadline, the image files and pixels
it has had decoded so far). A decoder is only ever handed a budget, so the per-request bounds hold on
every protocol: there is no way to decode against the server-wide object and escape the count.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from serving_core.deadline import Deadline
from serving_core.errors import InvalidArgumentError, ResourceExhaustedError
from serving_core.pixel_gate import PixelGate


@dataclass(frozen=True)
class ServerLimits:
    """Most images in one request, most pixels per image file and per request, and the request's time.

    ``max_decoded_images`` and ``max_decoded_pixels`` bound the image files (PNG, JPEG...) one request
    may have decoded; raw tensors and ``.npy`` arrays decode to nothing and count only against
    ``max_instances``. ``gate`` is shared by every request of the process (pixels decoding at once).
    ``deadline_seconds`` is REQUEST_DEADLINE_SECONDS (0: none).
    """

    max_instances: int
    max_image_pixels: int
    max_decoded_images: int = 64
    max_decoded_pixels: int = 40_000_000
    gate: PixelGate | None = None
    deadline_seconds: float = 0.0

    def budget(self, arrived: float | None = None, client_deadline: Deadline | None = None) -> RequestBudget:
        """A new request's budget: its deadline counted from ``arrived`` (``time.monotonic()``, default
        now), or the client's when that comes first."""
        deadline = Deadline.after(self.deadline_seconds, arrived)
        if client_deadline is not None:
            deadline = Deadline.earliest(deadline, client_deadline)
        return RequestBudget(self, deadline)


class RequestBudget:
    """One request's account against the server's limits (its threads may share it).

    ``check`` refuses once the deadline has passed: 503 (the server was busy) while none of the
    request's work has started, 504 after that.
    """

    def __init__(self, limits: ServerLimits, deadline: Deadline | None) -> None:
        self.limits = limits
        self.deadline = deadline
        self.images = 0
        self.pixels = 0
        self.started = False
        self._lock = threading.Lock()

    @property
    def max_instances(self) -> int:
        return self.limits.max_instances

    @property
    def max_image_pixels(self) -> int:
        return self.limits.max_image_pixels

    def check(self, step: str) -> None:
        """The request's deadline, before ``step``: the refusal when it has passed."""
        started, self.started = self.started, True
        if self.deadline is not None and self.deadline.expired():
            raise self.deadline.exceeded(step) if started else self.deadline.not_started()

    def check_count(self, count: int) -> None:
        """Refuse an empty request or one with more images than ``max_instances``."""
        if count > self.limits.max_instances:
            raise InvalidArgumentError(
                f"{count} instances in one request is over the limit "
                f"MAX_INSTANCES={self.limits.max_instances}", limit="MAX_INSTANCES"
            )
        if count == 0:
            raise InvalidArgumentError("No values in 'instances' array")

    def check_shape(self, shape: tuple[int, ...], per_instance: int, where: str) -> None:
        """Refuse, before anything is allocated, a tensor shape holding more than ``max_instances``
        instances of ``per_instance`` values each (784 pixels; one serialized example).

        A shape of instances (``[N, ...]`` with ``per_instance`` values after the first dimension) is
        refused as ``check_count`` refuses N; any other shape by its number of values, and a shape of no
        values by its largest dimension (numpy refuses dimensions past 2**63 even in an empty array).
        """
        most = self.max_instances * per_instance
        count = math.prod(shape)
        if count <= most and all(dim <= most for dim in shape):
            return
        if shape and math.prod(shape[1:]) == per_instance:
            self.check_count(shape[0])
        over = f"({count} values) is" if count > most else "has a dimension"
        raise InvalidArgumentError(
            f"{where}: shape {list(shape)} {over} over the limit MAX_INSTANCES={self.max_instances}: a "
            f"request holds at most {self.max_instances} x {per_instance} values", limit="MAX_INSTANCES"
        )

    def check_image_files(self, count: int) -> None:
        """Refuse a request that holds more image files than ``max_decoded_images`` (before decoding)."""
        if count > self.limits.max_decoded_images:
            raise InvalidArgumentError(
                f"{count} image files in one request is over the limit MAX_DECODED_IMAGES="
                f"{self.limits.max_decoded_images} (send raw pixels or .npy for larger batches)",
                limit="MAX_DECODED_IMAGES")

    @contextlib.contextmanager
    def decoding(self, pixels: int, counted: bool = True) -> Iterator[None]:
        """Count one image file of ``pixels`` decoded pixels against this request, then hold the gate.

        ``counted=False``: a second decoding of a file already counted (the page's thumbnail of the
        upload it read) holds the gate and the deadline but is not another image of the request.
        """
        if counted:
            with self._lock:
                self.images += 1
                self.pixels += pixels
                images, total = self.images, self.pixels
            self.check_image_files(images)
            if total > self.limits.max_decoded_pixels:
                raise ResourceExhaustedError(
                    f"the request's image files decode to {total} pixels or more, over the limit "
                    f"MAX_DECODED_PIXELS={self.limits.max_decoded_pixels} per request", http_status=413,
                    limit="MAX_DECODED_PIXELS")
            self.check(f"decoding image file {images}")
        else:
            self.check("decoding the image file again")
        gate = self.limits.gate
        with gate.hold(pixels, self.deadline) if gate is not None else contextlib.nullcontext():
            yield
