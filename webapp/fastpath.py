"""The hot path of TF Serving's predict route, answered below Flask: same answers, a third of the cost.

Why: on this 2-core machine a one-image predict request through Flask cost ~250 us of CPU in the app
against ~65 us for a no-op Flask route, of which the model is ~40 us and parsing ~30 us; the rest is
request context, URL map, Request/Response objects and checks done several times. Under load that
overhead, not the model, sets the requests/s. This WSGI middleware answers the common successful case
directly:

* ``POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict`` with the default signature,
* a JSON body ``{"instances": [...]}`` of rows of numbers (784 or 28x28 each) or of TF Serving's
  ``{"b64": ...}`` raw pixels (784 uint8 or 3,136 float32 bytes per instance), or an ``.npy`` body,

and gives exactly the bytes and headers the Flask view would (``{"predictions": [[62 scores], ...]}``).
Everything else -- other routes and verbs, signature names, columnar ``inputs``, image files, forms,
limits exceeded, invalid values, unknown models, model errors -- goes to the Flask app unchanged, with
the body already read handed back, so every error message and status is still the Flask app's.
Disable with ``FAST_PREDICT_PATH = False`` (env ``EMNIST_FAST_PREDICT_PATH=0``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import numpy as np
import orjson

from model_tools.labels import NUM_PIXELS
from webapp.engine import DEFAULT_SIGNATURE, SCORES_OUTPUT
from webapp.errors import ApiError
from webapp.payloads import BINARY_TYPES, FORM_TYPES, RAW_FLOAT32_BYTES, npy_to_images, uint8_to_unit
from webapp.tensor_codecs import (
    JSON_MEDIA_TYPE,
    NPY_MAGIC,
    NPY_MEDIA_TYPES,
    accepts_npy,
    decode_base64,
    dump_npy,
)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]

PREDICT_PATH = re.compile(
    r"/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[1-9][0-9]*|0)|/labels/(?P<label>[^/:]+))?:predict\Z"
)
#: Leading bytes of image files: a b64 instance holding one goes to Flask (preprocessing).
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8", b"GIF8", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")
_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


class _FallbackError(Exception):
    """Not a case this path answers: hand the request to Flask."""


class FastPredictMiddleware:
    """WSGI middleware in front of the Flask app's ``wsgi_app`` (see module doc)."""

    def __init__(self, flask_app: Any, wsgi_app: WSGIApp) -> None:
        self.flask_app = flask_app
        self.wsgi_app = wsgi_app
        config = flask_app.config
        self.max_content_length = config.get("MAX_CONTENT_LENGTH")
        self.max_instances = int(config["MAX_INSTANCES"])

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        match = PREDICT_PATH.match(environ.get("PATH_INFO", ""))
        if match is None:
            return self.wsgi_app(environ, start_response)
        body = self._read_body(environ)
        if body is None:
            return self.wsgi_app(environ, start_response)
        binary_answer = accepts_npy(environ.get("HTTP_ACCEPT"))
        try:
            scores = self._predict(match, environ, body)
        except _FallbackError:
            scores = None
        if scores is None:
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            return self.wsgi_app(environ, start_response)
        if binary_answer:
            answer, content_type = dump_npy(scores), NPY_MEDIA_TYPES[0]
        else:
            answer = orjson.dumps({"predictions": scores}, option=_ORJSON_OPTIONS)
            content_type = JSON_MEDIA_TYPE
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(answer)))])
        return [answer]

    def _read_body(self, environ: dict) -> bytes | None:
        """The whole body when it has a valid Content-Length within the limit (else None: Flask decides)."""
        if environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if length <= 0 or (self.max_content_length is not None and length > self.max_content_length):
            return None
        return environ["wsgi.input"].read(length)

    def _predict(self, match: re.Match, environ: dict, body: bytes) -> np.ndarray | None:
        """The default signature's scores for the body's images, or None: Flask answers."""
        mimetype = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if mimetype in FORM_TYPES or mimetype.startswith("image/"):
            return None  # forms are refused and image files preprocessed by the Flask view
        if body.startswith(NPY_MAGIC):
            images = _npy_images(body)
        elif mimetype in BINARY_TYPES:
            return None
        else:
            images = _json_images(body, self.max_instances)
        if len(images) > self.max_instances:
            return None
        name, version, label = match.group("name", "version", "label")
        extensions = self.flask_app.extensions
        registry = extensions.get("model_registry")
        if registry is None:
            return None
        try:
            number = None if version is None else int(version)
            with registry.acquire(name, version=number, label=label) as pinned:
                engine = pinned.engine
                if len(engine.signature_inputs(DEFAULT_SIGNATURE)) != 1:
                    return None
                if engine.signature_outputs(DEFAULT_SIGNATURE) != [SCORES_OUTPUT]:
                    return None  # several outputs: TF Serving answers an object per instance (Flask)
                batchers = extensions.get("batchers")
                scores = engine.predict(images) if batchers is None else batchers.predict(engine, images)
        except Exception:  # unknown model, model error, full batch queue: Flask gives the answer
            return None
        return scores


def _finite(images: np.ndarray) -> np.ndarray:
    if not np.isfinite(images).all():
        raise _FallbackError
    return images


def _json_images(body: bytes, max_instances: int) -> np.ndarray:
    """``{"instances": [...]}`` of number rows or raw-pixel b64 objects -> float32 [N,784]."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _FallbackError from None
    if type(document) is not dict or "inputs" in document:
        raise _FallbackError
    signature = document.get("signature_name")
    if signature and signature != DEFAULT_SIGNATURE:
        raise _FallbackError
    instances = document.get("instances")
    if type(instances) is not list or not instances or len(instances) > max_instances:
        raise _FallbackError
    first = instances[0]
    if type(first) is list:
        count = len(instances)
        if all(type(row) is list and len(row) == NUM_PIXELS for row in instances):
            # Flat rows: one C loop over the parsed floats (~2x np.array's shape discovery).
            try:
                with np.errstate(over="ignore"):  # out-of-range values become inf, refused below
                    flat = np.fromiter(chain.from_iterable(instances), dtype=np.float32,
                                       count=count * NUM_PIXELS)
            except (ValueError, TypeError):
                raise _FallbackError from None
            return _finite(flat.reshape(count, NUM_PIXELS))
        try:
            array = np.array(instances, dtype=np.float32)
        except (ValueError, TypeError):
            raise _FallbackError from None
        if array.ndim < 2 or array.size != count * NUM_PIXELS:
            raise _FallbackError
        return _finite(array.reshape(count, NUM_PIXELS))
    if type(first) is dict:
        return _b64_images(instances)
    raise _FallbackError


def _b64_images(instances: list) -> np.ndarray:
    """Instances ``{"b64": ...}`` all holding raw 784 uint8 or 3,136 float32 bytes -> float32 [N,784]."""
    decoded = []
    for instance in instances:
        if type(instance) is not dict or len(instance) != 1:
            raise _FallbackError
        value = instance.get("b64")
        if type(value) is not str:
            raise _FallbackError
        try:
            data = decode_base64(value)
        except ValueError:
            raise _FallbackError from None
        decoded.append(data)
    size = len(decoded[0])
    if size not in (NUM_PIXELS, RAW_FLOAT32_BYTES) or any(len(d) != size for d in decoded):
        raise _FallbackError
    if any(d.startswith(IMAGE_MAGIC) or d.startswith(NPY_MAGIC) for d in decoded):
        raise _FallbackError
    raw = b"".join(decoded)
    if size == NUM_PIXELS:
        return uint8_to_unit(np.frombuffer(raw, dtype=np.uint8)).reshape(-1, NUM_PIXELS)
    return _finite(np.frombuffer(raw, dtype="<f4").reshape(-1, NUM_PIXELS))


def _npy_images(body: bytes) -> np.ndarray:
    """A .npy body -> float32 [N,784], read exactly as the Flask view reads it."""
    try:
        return _finite(npy_to_images(body))
    except ApiError:
        raise _FallbackError from None


def install(app: Any) -> None:
    """Put the fast path in front of ``app.wsgi_app`` unless ``FAST_PREDICT_PATH`` is false."""
    if app.config.get("FAST_PREDICT_PATH", True):
        app.wsgi_app = FastPredictMiddleware(app, app.wsgi_app)
