"""What one request did, gathered while it runs, for its access-log line, its metrics and its log lines.

Each transport opens one ``RequestRecord`` per request at its single observation point (the HTTP app's
WSGI layer, the gRPC server's interceptor) and makes it current for the request's thread; the code the
request runs fills it in: the call objects name the protocol and route and hand over the core's
``InferenceRequest``, the inference service notes the version that answered and how many images it read,
a refusal notes its error. Log lines written meanwhile carry its request id (``request_id``), and a
client of remote model servers forwards that id.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serving_core.errors import ServingError
    from serving_core.request import InferenceRequest


class RequestRecord:
    """One request as observed (see the module doc); written by one thread at a time."""

    __slots__ = ("request_id", "started", "method", "protocol", "route", "inference", "error", "model",
                 "version")

    def __init__(self, request_id: str, method: str = "") -> None:
        self.request_id = request_id
        self.started = time.perf_counter()
        #: The HTTP method, or the gRPC service's full method name.
        self.method = method
        self.protocol = ""
        #: The declared route or RPC ("" until a call names it).
        self.route = ""
        #: The core's request, when one was made.
        self.inference: InferenceRequest | None = None
        #: The refusal answered, when there was one.
        self.error: ServingError | None = None
        #: The model asked about (by requests that build no ``InferenceRequest``: status, metadata).
        self.model = ""
        self.version: int | None = None

    def seconds(self) -> float:
        """Time since the request was opened."""
        return time.perf_counter() - self.started

    def model_name(self) -> str:
        if self.inference is not None:
            return self.inference.spec.name
        return self.model

    def model_version(self) -> int | None:
        if self.inference is not None and self.inference.served_version is not None:
            return self.inference.served_version
        return self.version


_CURRENT: ContextVar[RequestRecord | None] = ContextVar("emnist_request", default=None)


def begin(record: RequestRecord) -> Token:
    """Make ``record`` the current request of this thread (until ``end`` with the token)."""
    return _CURRENT.set(record)


def end(token: Token) -> None:
    _CURRENT.reset(token)


def current() -> RequestRecord | None:
    """The request this thread works on, if a transport opened one."""
    return _CURRENT.get()


def current_request_id() -> str | None:
    record = _CURRENT.get()
    return record.request_id if record is not None else None


def note_inference(request: InferenceRequest) -> None:
    """The core's request of the current call (its protocol, route and model come with it)."""
    record = _CURRENT.get()
    if record is not None:
        record.inference = request
        record.protocol = request.protocol
        record.route = request.route


def note_call(protocol: str, route: str) -> None:
    """The protocol and declared route of the current call (requests that build no core request)."""
    record = _CURRENT.get()
    if record is not None:
        record.protocol = protocol
        record.route = route


def note_error(error: ServingError) -> None:
    """The refusal the current request is answered with."""
    record = _CURRENT.get()
    if record is not None:
        record.error = error


def note_model(name: str, version: int | None = None) -> None:
    """The model (and version) a request that builds no core request was about."""
    record = _CURRENT.get()
    if record is not None:
        record.model = name
        record.version = version
