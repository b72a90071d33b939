"""What a model server's failure means for the front end's answer.

* Refusals of the request itself (NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE) are
  the client's answer: passed on with the model server's message and TF Serving's HTTP status, exactly
  what the app answers when it serves the model itself.
* UNAVAILABLE (the server is down, shutting down, or has no version loaded), CANCELLED (a gRPC server that
  is stopping cancels the RPCs it accepted but will not run; this client never cancels its own) and a
  full batch queue are the model server's state, not the request's: ``ModelServerUnavailableError``,
  retried on the next server (inference has no side effect); 503 when none can answer.
* A deadline that passed: 504. Anything else (INTERNAL, UNIMPLEMENTED, a malformed answer...) is a model
  server answering what it should not: 502, naming the server.
"""

from __future__ import annotations

from serving_core.errors import Code, ServingError

PASSED_ON = frozenset({Code.NOT_FOUND, Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION, Code.OUT_OF_RANGE})
RETRIED = frozenset({Code.UNAVAILABLE, Code.CANCELLED, Code.RESOURCE_EXHAUSTED})
#: gRPC's own refusal of a message over the receiving side's limit: the request's fault, not the server's.
TOO_LARGE = "Received message larger than max"


class ModelServerUnavailableError(Exception):
    """This model server cannot answer now; another one may."""


def bad_gateway(url: str, detail: str) -> ServingError:
    return ServingError(f"model server {url} {detail}", Code.UNKNOWN, http_status=502)


def deadline_exceeded(url: str) -> ServingError:
    return ServingError(f"model server {url} did not answer within the deadline", Code.DEADLINE_EXCEEDED,
                        http_status=504)


def answered_error(url: str, code: Code, message: str) -> Exception:
    """The exception standing for a model server's error answer (see the module doc)."""
    if code in PASSED_ON:
        return ServingError(message, code)
    if code is Code.RESOURCE_EXHAUSTED and TOO_LARGE in message:
        return ServingError(f"model server {url}: {message}", code, http_status=413)
    if code in RETRIED:
        return ModelServerUnavailableError(f"{code.name}: {message}")
    if code is Code.DEADLINE_EXCEEDED:
        return deadline_exceeded(url)
    return bad_gateway(url, f"answered {code.name}: {message}")
