"""Response bodies of the JSON API: orjson with numpy arrays serialised natively, and the error shape."""

from __future__ import annotations

import orjson
from flask import Response

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def json_bytes(payload: object) -> bytes:
    """``payload`` as JSON bytes (numpy arrays as nested lists, without Python float lists in between)."""
    return orjson.dumps(payload, option=_OPTIONS)


def error_bytes(message: str) -> bytes:
    """TF Serving's error body, ``{"error": "..."}``."""
    return orjson.dumps({"error": message})


def json_response(payload: object, status: int = 200) -> Response:
    return Response(json_bytes(payload), status=status, mimetype="application/json")
