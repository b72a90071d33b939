"""One error type for every refusal: a message, a TF Serving error code and an HTTP status.

Front ends translate it and nothing else: the REST routes answer ``{"error": message}`` with
``http_status``, the gRPC services abort with ``code``'s status. The HTTP status defaults to the one TF
Serving's REST server gives the code; a few refusals that only HTTP can express (a body over the size
limit, an unsupported media type) name their own.
"""

from __future__ import annotations

import enum

#: What every front end answers for a failure that is not a refusal (the failure itself goes to the log).
INTERNAL_ERROR = "internal error: the server could not answer this request (logged)"


class Code(enum.IntEnum):
    """TF Serving's (and gRPC's) canonical error codes."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


#: The HTTP status TF Serving's REST server answers for each code (http_rest_api_handler's mapping).
HTTP_STATUS = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 412,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


class ServingError(Exception):
    """A request the server refuses or cannot answer; ``str(error)`` is the message clients see."""

    code = Code.INVALID_ARGUMENT
    http_status: int | None = None
    #: The setting whose limit refused the request (``MAX_INSTANCES``...), for the refusal metrics.
    limit: str | None = None

    def __init__(self, message: str, code: Code | None = None, http_status: int | None = None,
                 limit: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if limit is not None:
            self.limit = limit
        status = http_status if http_status is not None else type(self).http_status
        self.http_status = status if status is not None else HTTP_STATUS[self.code]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, {self.code.name}, {self.http_status})"


class ModelNotFoundError(ServingError):
    """No servable matches the request (unknown model, version not loaded): TF Serving's NOT_FOUND."""

    code = Code.NOT_FOUND


class ServableUnavailableError(ModelNotFoundError):
    """A configured model with no version AVAILABLE yet (loading, or every load failed).

    The REST answer stays TF Serving's (404, "Servable not found for request: ..."); the gRPC code is
    UNAVAILABLE, which tells a client (or a front end balancing over model servers) to retry, where
    NOT_FOUND for an unknown model or version tells it not to.
    """

    code = Code.UNAVAILABLE
    http_status = 404


class InvalidArgumentError(ServingError):
    """The request itself is wrong: bad tensors, unknown signature, malformed body."""

    code = Code.INVALID_ARGUMENT


class ResourceExhaustedError(ServingError):
    """Over a configured limit: too many bytes or pixels, a full batch queue."""

    code = Code.RESOURCE_EXHAUSTED


class UnavailableError(ServingError):
    """The server cannot answer now (nothing loaded, no core configured); the client may retry."""

    code = Code.UNAVAILABLE


class DeadlineExceededError(ServingError):
    """The client's deadline passed before the model call could start: it is not run."""

    code = Code.DEADLINE_EXCEEDED


#: gRPC's own wording for an expired deadline.
DEADLINE_MESSAGE = "Deadline Exceeded"
