"""Every request body read whole into memory, within MAX_CONTENT_LENGTH, before the app acts on it.

Why: a body with a ``Content-Length`` and a chunked one must meet the same limit (Werkzeug's own stream
cuts a chunked body at the limit and carries on with the truncated bytes), a body that cannot be read
(an invalid chunk size, a client gone mid-body) is the client's error and not the app's, and the
server's gevent worker (``webapp.http.gunicorn_worker``) reads the body in the connection's greenlet so
that a slow upload never holds one of the threads that run the app. After ``buffer_body`` the body is a
``BytesIO`` with its ``CONTENT_LENGTH``, the same for the fast path and the Flask views, and nothing of it
was written to disk.

A refusal is not answered here: it is put in the environ (``BODY_ERROR``) and the app answers it in its
own shape (JSON on the API paths, the page for the UI).
"""

from __future__ import annotations

import io
import time
from typing import Any

from serving_core.errors import Code, InvalidArgumentError, ResourceExhaustedError, ServingError

#: environ key set once the body is in memory (so a second middleware does not read it again).
BODY_READY = "emnist.body_ready"
#: environ key holding the ServingError that refuses the body, when it could not be taken.
BODY_ERROR = "emnist.body_error"
#: environ key: when the whole request had arrived (``time.monotonic()``); its deadline counts from here.
ARRIVED = "emnist.arrived"


class BodyTooLargeError(ResourceExhaustedError):
    """A body over MAX_CONTENT_LENGTH, with a Content-Length or chunked."""

    http_status = 413
    limit = "MAX_CONTENT_LENGTH"


class UnreadableBodyError(InvalidArgumentError):
    """A body that is no valid chunked coding, or that ended before its Content-Length."""


class BodyTimeoutError(ServingError):
    """The body did not arrive within REQUEST_BODY_TIMEOUT_SECONDS: HTTP 408, the connection closed."""

    code = Code.DEADLINE_EXCEEDED
    http_status = 408
    limit = "REQUEST_BODY_TIMEOUT_SECONDS"


def too_large_message(limit: int | None) -> str:
    return f"request body is larger than the limit MAX_CONTENT_LENGTH={limit} bytes"


def unreadable_message() -> str:
    return ("the request body could not be read: invalid chunked transfer coding, or the connection "
            "closed before the body ended")


def _read_up_to(stream: Any, size: int) -> bytes:
    """At most ``size`` bytes of ``stream``: fewer only when the stream ends.

    One read of the whole size, not a loop of small ones: gunicorn's body reader buffers what it read
    ahead and copies that buffer on every call, so small reads of a large body cost quadratic copying.
    """
    data = stream.read(size)
    if len(data) >= size or not data:
        return data
    parts = [data]
    while (remaining := size - sum(map(len, parts))) > 0:
        more = stream.read(remaining)
        if not more:
            break
        parts.append(more)
    return b"".join(parts)


def read_whole_body(environ: dict, max_length: int | None) -> bytes:
    """The request body in memory: ResourceExhaustedError (413) over ``max_length``, 400 if unreadable."""
    stream = environ.get("wsgi.input")
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    declared = environ.get("CONTENT_LENGTH") or ""
    if stream is None or (not chunked and not declared and not environ.get("wsgi.input_terminated")):
        return b""
    try:
        if not chunked and declared:
            try:
                length = int(declared)
            except ValueError:
                raise InvalidArgumentError(f"invalid Content-Length {declared[:40]!r}") from None
            if length < 0:
                raise InvalidArgumentError(f"invalid Content-Length {declared[:40]!r}")
            if max_length is not None and length > max_length:
                raise BodyTooLargeError(too_large_message(max_length))
            body = _read_up_to(stream, length)
            if len(body) != length:
                raise UnreadableBodyError(unreadable_message())
            return body
        # Chunked (or a server that ends the stream itself): read one byte past the limit to know.
        body = _read_up_to(stream, (max_length if max_length is not None else 1 << 62) + 1)
    except ServingError:
        raise
    except Exception:  # the server's parser errors (bad chunk size, truncated body), OSError, ValueError
        raise UnreadableBodyError(unreadable_message()) from None
    if max_length is not None and len(body) > max_length:
        raise BodyTooLargeError(too_large_message(max_length))
    return body


def buffer_body(environ: dict, max_length: int | None) -> ServingError | None:
    """Replace ``wsgi.input`` by the whole body in memory; the refusal (also put in the environ) or None."""
    if environ.get(BODY_READY):
        return environ.get(BODY_ERROR)
    error = None
    try:
        body = read_whole_body(environ, max_length)
    except ServingError as exc:
        error, body = exc, b""
        environ[BODY_ERROR] = exc
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    # The stream now ends where the body does: Werkzeug may read it as it is, not through its (slow,
    # byte-counting) LimitedStream.
    environ["wsgi.input_terminated"] = True
    environ[BODY_READY] = True
    environ.setdefault(ARRIVED, time.monotonic())
    return error


def buffered_body(environ: dict) -> bytes | None:
    """The body ``buffer_body`` holds in memory (no copy), or None before it ran."""
    stream = environ.get("wsgi.input")
    return stream.getvalue() if environ.get(BODY_READY) and isinstance(stream, io.BytesIO) else None


def raise_body_refusal(environ: dict) -> None:
    """Raise the refusal ``buffer_body`` put in the environ, if it refused the body."""
    error = environ.get(BODY_ERROR)
    if error is not None:
        raise error
