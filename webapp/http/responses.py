"""Answers of the HTTP front ends: orjson with numpy arrays serialised natively, and the error shape.

``HttpAnswer`` is what every route handler returns, whether Flask or a fast path writes it out.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from flask import Response

from webapp.http.media import JSON_MEDIA_TYPE

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def json_bytes(payload: object) -> bytes:
    """``payload`` as JSON bytes (numpy arrays as nested lists, without Python float lists in between)."""
    return orjson.dumps(payload, option=_OPTIONS)


def error_bytes(message: str) -> bytes:
    """TF Serving's error body, ``{"error": "..."}``."""
    return orjson.dumps({"error": message})


def json_response(payload: object, status: int = 200) -> Response:
    return Response(json_bytes(payload), status=status, mimetype=JSON_MEDIA_TYPE)


@dataclass(frozen=True)
class HttpAnswer:
    """One answer: status, body and its media type, and any further headers."""

    body: bytes
    content_type: str = JSON_MEDIA_TYPE
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, payload: object, status: int = 200) -> HttpAnswer:
        return cls(json_bytes(payload), JSON_MEDIA_TYPE, status)

    def response(self) -> Response:
        """As a Flask response."""
        response = Response(self.body, status=self.status, content_type=self.content_type)
        for name, value in self.headers:
            response.headers[name] = value
        return response

    def wsgi_headers(self) -> list[tuple[str, str]]:
        return [("Content-Type", self.content_type), ("Content-Length", str(len(self.body))), *self.headers]
