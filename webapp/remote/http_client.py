"""One TF Serving-compatible model server over its REST API: a pool of keep-alive connections (urllib3).

TF Serving's REST answers do not say which version answered, so each call first learns the version it
will ask for (the newest AVAILABLE one of the spec, from the status route, remembered for a second) and
then addresses ``/versions/<v>``: the answer is that version's. Tensors go as TF Serving's columnar JSON
(``{"inputs": {name: values}}``; strings as ``{"b64": ...}``).
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import numpy as np
import orjson
import urllib3
from urllib3.exceptions import HTTPError, ReadTimeoutError

from emnist_contract.layout import MODEL_INFO_FIELD, UNTRAINED_CLASSES_KEY
from emnist_contract.signatures import EXAMPLE_FEATURE
from serving_core.errors import Code, ServingError
from serving_core.observation import current_request_id
from serving_core.service import ModelSpec
from webapp.http.calls import REQUEST_ID_HEADER
from webapp.remote.addresses import ModelServerAddress
from webapp.remote.errors import ModelServerUnavailableError, answered_error, bad_gateway, deadline_exceeded
from webapp.remote.results import Classified, Predicted, untrained_classes_of

VERSION_SECONDS = 1.0
POOL_SIZE = 8
#: HTTP status -> the code a TF Serving REST server answers it for.
_CODES = {400: Code.INVALID_ARGUMENT, 404: Code.NOT_FOUND, 412: Code.FAILED_PRECONDITION,
          429: Code.RESOURCE_EXHAUSTED, 503: Code.UNAVAILABLE, 504: Code.DEADLINE_EXCEEDED,
          501: Code.UNIMPLEMENTED}
_NUMPY_TYPES = {"DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_INT64": np.int64, "DT_INT32": np.int32,
                "DT_UINT8": np.uint8, "DT_BOOL": np.bool_}


def _model_path(spec: ModelSpec) -> str:
    path = f"/v1/models/{spec.name}"
    if spec.version is not None:
        return f"{path}/versions/{spec.version}"
    if spec.label is not None:
        return f"{path}/labels/{spec.label}"
    return path


def _json_values(values: np.ndarray) -> Any:
    if values.dtype == object:
        return [{"b64": base64.b64encode(value).decode("ascii")} for value in values]
    return values


def _string(value: Any) -> bytes:
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return str(value).encode("utf-8")


def _as_array(values: Any, dtype: str) -> np.ndarray:
    if dtype == "DT_STRING":
        strings = np.array(values, dtype=object)
        return np.vectorize(_string, otypes=[object])(strings) if strings.size else strings
    return np.array(values, dtype=_NUMPY_TYPES.get(dtype, np.float32))


class HttpModelServer:
    """Calls to one model server (see the module doc)."""

    def __init__(self, address: ModelServerAddress) -> None:
        self.address = address
        self.url = address.url
        self.pool = urllib3.HTTPConnectionPool(address.host, address.port, maxsize=POOL_SIZE, block=False,
                                               retries=False)
        self._versions: dict[ModelSpec, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.pool.close()

    def _request(self, method: str, path: str, timeout: float, body: Any = None) -> Any:
        data = None if body is None else orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        headers = {"Content-Type": "application/json"}
        request_id = current_request_id()
        if request_id is not None:  # the model server logs the front end's request under the same id
            headers[REQUEST_ID_HEADER] = request_id
        try:
            response = self.pool.urlopen(method, path, body=data, timeout=urllib3.Timeout(total=timeout),
                                         headers=headers, retries=False)
        except ReadTimeoutError:
            raise deadline_exceeded(self.url) from None
        except HTTPError as exc:  # refused, reset, closed mid-answer
            raise ModelServerUnavailableError(f"{type(exc).__name__}: {exc}") from None
        try:
            document = orjson.loads(response.data)
        except orjson.JSONDecodeError:
            document = None
        if response.status == 200 and isinstance(document, dict):
            return document
        message = document.get("error") if isinstance(document, dict) else None
        if not isinstance(message, str):
            message = response.data[:200].decode("utf-8", "replace")
        if response.status == 200:
            raise bad_gateway(self.url, f"answered what is not a JSON object: {message}")
        if response.status in (413, 415):
            raise ServingError(message, Code.INVALID_ARGUMENT, http_status=response.status)
        code = _CODES.get(response.status, Code.UNKNOWN if response.status >= 500 else Code.INVALID_ARGUMENT)
        raise answered_error(self.url, code, message)

    def version(self, spec: ModelSpec, timeout: float) -> int:
        """The version a spec asks for now: the newest AVAILABLE one the status route lists."""
        if spec.version is not None:
            return spec.version
        key = ModelSpec(spec.name, None, spec.label)
        now = time.monotonic()
        with self._lock:
            cached = self._versions.get(key)
        if cached is not None and now - cached[0] < VERSION_SECONDS:
            return cached[1]
        available = [int(entry["version"]) for entry in self.status(key, timeout)
                     if entry.get("state") == "AVAILABLE"]
        if not available:
            raise ModelServerUnavailableError(f"no version of model {spec.name} is AVAILABLE")
        with self._lock:
            self._versions[key] = (now, max(available))
        return max(available)

    def _pinned(self, spec: ModelSpec, deadline: float) -> ModelSpec:
        return ModelSpec(spec.name, self.version(spec, deadline - time.monotonic()))

    def predict(self, spec: ModelSpec, signature: str, input_name: str, values: np.ndarray,
                timeout: float, output_types: dict[str, str] | None = None) -> Predicted:
        deadline = time.monotonic() + timeout
        pinned = self._pinned(spec, deadline)
        body = {"signature_name": signature, "inputs": {input_name: _json_values(values)}}
        document = self._request("POST", _model_path(pinned) + ":predict", deadline - time.monotonic(), body)
        outputs = document.get("outputs")
        types = output_types or {}
        if isinstance(outputs, dict) and len(types) != 1:
            arrays = {name: _as_array(outputs[name], types.get(name, "DT_FLOAT")) for name in sorted(outputs)}
        elif isinstance(outputs, list) and len(types) == 1:
            ((name, dtype),) = types.items()
            arrays = {name: _as_array(outputs, dtype)}
        else:
            raise bad_gateway(self.url, "answered a predict response without the signature's outputs")
        return Predicted(pinned.version, signature, arrays)

    def classify(self, spec: ModelSpec, signature: str, images: np.ndarray, timeout: float) -> Classified:
        deadline = time.monotonic() + timeout
        pinned = self._pinned(spec, deadline)
        body = {"signature_name": signature, "examples": [{EXAMPLE_FEATURE: row} for row in images]}
        document = self._request("POST", _model_path(pinned) + ":classify", deadline - time.monotonic(), body)
        results = document.get("results")
        try:
            labels = tuple(str(pair[0]) for pair in results[0])
            scores = np.array([[pair[1] for pair in row] for row in results], dtype=np.float32)
        except (TypeError, IndexError, KeyError, ValueError):
            raise bad_gateway(self.url, "answered classify results not made of [label, score]") from None
        if len(scores) != len(images):
            raise bad_gateway(self.url, f"answered {len(scores)} results for {len(images)} examples")
        return Classified(pinned.version, labels if any(labels) else None, scores)

    def metadata(self, spec: ModelSpec, timeout: float) -> tuple[int, dict[str, Any]]:
        document = self._request("GET", _model_path(spec) + "/metadata", timeout)
        try:
            return int(document["model_spec"]["version"]), document["metadata"]["signature_def"]
        except (KeyError, TypeError, ValueError):
            raise bad_gateway(self.url, "answered metadata without model_spec and signature_def") from None

    def untrained_classes(self, spec: ModelSpec, timeout: float) -> tuple[str, ...]:
        """The classes the version has no training images of (this project's ``model_info`` field; a
        server that does not know the field, a real TF Serving, leaves it out: nothing is known)."""
        path = _model_path(spec) + f"/metadata?metadata_field=signature_def&metadata_field={MODEL_INFO_FIELD}"
        metadata = self._request("GET", path, timeout).get("metadata")
        info = metadata.get(MODEL_INFO_FIELD, {}) if isinstance(metadata, dict) else {}
        classes = info.get(UNTRAINED_CLASSES_KEY, []) if isinstance(info, dict) else None
        return untrained_classes_of(self.url, classes)

    def status(self, spec: ModelSpec, timeout: float) -> list[dict[str, Any]]:
        entries = self._request("GET", _model_path(spec), timeout).get("model_version_status")
        if not isinstance(entries, list):
            raise bad_gateway(self.url, "answered a status without model_version_status")
        return entries
