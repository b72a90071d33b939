"""The per-request limits the decoders enforce (the server's settings give their values)."""

from __future__ import annotations

from dataclasses import dataclass

from serving_core.errors import InvalidArgumentError


@dataclass(frozen=True)
class RequestLimits:
    """Most images in one request, and most pixels of one uploaded image file."""

    max_instances: int
    max_image_pixels: int

    def check_count(self, count: int) -> None:
        """Refuse an empty request or one with more images than ``max_instances``."""
        if count > self.max_instances:
            raise InvalidArgumentError(
                f"{count} instances in one request is over the limit MAX_INSTANCES={self.max_instances}"
            )
        if count == 0:
            raise InvalidArgumentError("No values in 'instances' array")
