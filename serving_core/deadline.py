"""A request's deadline: how long it may take from its arrival to its answer.

The work of a request is checked against it between its steps (before each image is decoded, while it
waits for its turn to decode, once its inputs are ready), so a request that cannot finish in time stops
at the next step instead of running on: TF Serving's DEADLINE_EXCEEDED (HTTP 504) once it has started,
UNAVAILABLE (HTTP 503, the client may retry) when it could not even start in time because the server
was busy. A single step is never interrupted; the other limits bound how long one step can take.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from serving_core.errors import DeadlineExceededError, UnavailableError

__all__ = ["Deadline", "DeadlineExceededError", "ServerBusyError"]


class ServerBusyError(UnavailableError):
    """The request waited its whole deadline for its turn: the server is busy, retry later."""


@dataclass(frozen=True)
class Deadline:
    """The monotonic time by which a request must be answered, and the setting that gave it."""

    expires: float
    seconds: float

    @classmethod
    def after(cls, seconds: float, start: float | None = None) -> Deadline | None:
        """``seconds`` from ``start`` (``time.monotonic()``, default now); None for no deadline (0)."""
        if seconds <= 0:
            return None
        return cls((time.monotonic() if start is None else start) + seconds, seconds)

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def _over(self) -> str:
        return f"the request did not finish within REQUEST_DEADLINE_SECONDS={self.seconds:g} s"

    def check(self, step: str) -> None:
        """DeadlineExceededError (504) if the deadline has passed; ``step`` says what was next."""
        if self.remaining() <= 0:
            raise DeadlineExceededError(f"{self._over()} (stopped before {step})")

    def check_start(self) -> None:
        """ServerBusyError (503) if the deadline passed before the request's work could start."""
        if self.remaining() <= 0:
            raise ServerBusyError(f"the server is busy: the request waited REQUEST_DEADLINE_SECONDS="
                                  f"{self.seconds:g} s without starting; retry later")

    def busy(self, waiting_for: str) -> ServerBusyError:
        return ServerBusyError(f"the server is busy: the request waited until its deadline "
                               f"(REQUEST_DEADLINE_SECONDS={self.seconds:g} s) for {waiting_for}; "
                               "retry later")
