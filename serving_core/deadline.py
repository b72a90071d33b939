"""A request's deadline: the one instant by which its answer is due, whatever the protocol.

It is the earlier of the server's own (``REQUEST_DEADLINE_SECONDS`` from the request's arrival) and the
client's, when the protocol carries one (gRPC). The work of a request is checked against it between its
steps (before each image is decoded, while it waits for its turn to decode, before the model call, while
it waits in the batch queue), so a request that cannot finish in time stops at the next step instead of
running on. A single step is never interrupted; the other limits bound how long one step can take.

What an expired request is answered depends on what set the deadline and on whether its work had started
(``RequestBudget`` knows): the server's deadline gives UNAVAILABLE (HTTP 503, the client may retry) when
the request could not even start because the server was busy, DEADLINE_EXCEEDED (HTTP 504) once it had;
a client's own deadline gives gRPC's DEADLINE_EXCEEDED either way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from serving_core.errors import DEADLINE_MESSAGE, DeadlineExceededError, ServingError, UnavailableError

__all__ = ["Deadline", "DeadlineExceededError", "ServerBusyError"]

#: The setting that a refusal by the server's own deadline names.
SERVER_DEADLINE = "REQUEST_DEADLINE_SECONDS"


class ServerBusyError(UnavailableError):
    """The request waited its whole deadline for its turn: the server is busy, retry later."""

    limit = SERVER_DEADLINE


@dataclass(frozen=True)
class Deadline:
    """The monotonic instant a request must be answered by, and what set it."""

    expires: float
    #: The server's REQUEST_DEADLINE_SECONDS that gave it (0.0 for a client's deadline).
    seconds: float
    #: True when the client set it (a gRPC deadline), not the server's setting.
    client: bool = False

    @classmethod
    def after(cls, seconds: float, start: float | None = None) -> Deadline | None:
        """``seconds`` from ``start`` (``time.monotonic()``, default now); None for no deadline (0)."""
        if seconds <= 0:
            return None
        return cls((time.monotonic() if start is None else start) + seconds, seconds)

    @classmethod
    def from_client(cls, remaining: float | None) -> Deadline | None:
        """A client's deadline, ``remaining`` seconds from now (gRPC's ``time_remaining()``); None: none."""
        if remaining is None:
            return None
        return cls(time.monotonic() + remaining, 0.0, client=True)

    @staticmethod
    def earliest(*deadlines: Deadline | None) -> Deadline | None:
        """The first of the deadlines to expire (None when there is none)."""
        present = [deadline for deadline in deadlines if deadline is not None]
        return min(present, key=lambda deadline: deadline.expires) if present else None

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def exceeded(self, step: str) -> ServingError:
        """The refusal of a request that ran out of time once its work had started (504)."""
        if self.client:
            return DeadlineExceededError(DEADLINE_MESSAGE)
        return DeadlineExceededError(f"the request did not finish within REQUEST_DEADLINE_SECONDS="
                                     f"{self.seconds:g} s (stopped before {step})", limit=SERVER_DEADLINE)

    def not_started(self) -> ServingError:
        """The refusal of a request that ran out of time before any of its work started (503)."""
        if self.client:
            return DeadlineExceededError(DEADLINE_MESSAGE)
        return ServerBusyError(f"the server is busy: the request waited REQUEST_DEADLINE_SECONDS="
                               f"{self.seconds:g} s without starting; retry later")

    def busy(self, waiting_for: str) -> ServingError:
        """The refusal of a request that waited until its deadline for a shared resource (503)."""
        if self.client:
            return DeadlineExceededError(DEADLINE_MESSAGE)
        return ServerBusyError(f"the server is busy: the request waited until its deadline "
                               f"(REQUEST_DEADLINE_SECONDS={self.seconds:g} s) for {waiting_for}; "
                               "retry later")

    def check(self, step: str) -> None:
        """Raise ``exceeded(step)`` if the deadline has passed."""
        if self.remaining() <= 0:
            raise self.exceeded(step)
