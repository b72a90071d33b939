"""The one inference service every front end calls: predict, classify, metadata, status.

TF Serving's PredictionService and ModelService implementations, and MLServer's DataPlane, without a
transport. It takes one ``InferenceRequest`` per call (``serving_core.request``) and is the only place
that starts a request's work against its deadline, pins a version, checks the request against the
version's signature, decodes its inputs against its budget and chooses between the dynamic batcher and
the engine; front ends only translate their protocol into a request and the answer back. Every refusal
is a ``ServingError``, and a request whose deadline has passed never reaches the batch queue or the
model, whatever protocol carried it.

``InferenceBackend`` is the interface the front ends call: this service in-process, or a client of
remote model servers that answers the same calls with the same signature rules
(``serving_core.signature_rules``, ``webapp.remote``).
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.signatures import (
    CLASSES_KEY,
    CLASSIFY_INPUT_KEY,
    CLASSIFY_SIGNATURE,
    DEFAULT_SIGNATURE,
    SCORES_KEY,
)
from emnist_contract.tensors import NUM_PIXELS
from serving_core import metrics
from serving_core.batching import BatcherCache
from serving_core.engines import Engine, SignatureError
from serving_core.errors import InvalidArgumentError, ServingError
from serving_core.lifecycle.manager import Servable, ServableManager
from serving_core.payloads.limits import ServerLimits
from serving_core.request import InferenceRequest, ModelSpec, SignatureInput
from serving_core.signature_rules import (
    classification_outputs,
    refuse_other_than_default,
    requested_signature,
    single_input,
)


@dataclass(frozen=True)
class ServedVersion:
    """The version that answered: TF Serving's answer ``model_spec``, plus the engine that ran it."""

    name: str
    version: int
    engine: str


@dataclass(frozen=True)
class Prediction:
    model: ServedVersion
    signature_name: str
    outputs: dict[str, np.ndarray]


@dataclass(frozen=True)
class Scores:
    """The default signature's scores [N,62] with the version's own labels.

    ``untrained_classes``: the labels the version cannot answer (its model info; empty when unknown).
    """

    model: ServedVersion
    scores: np.ndarray
    labels: tuple[str, ...]
    untrained_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Classification:
    """TF Serving's Classify answer: per example every class's label and score (either may be absent)."""

    model: ServedVersion
    labels: tuple[str, ...] | None
    scores: np.ndarray | None
    examples: int

    def rows(self) -> list[list[tuple[str, float]]]:
        """Per example, every class as (label, score): "" for an absent label, 0.0 for an absent score,
        as TF Serving fills a classification whose signature gives only one of the two."""
        scores = self.scores.tolist() if self.scores is not None else None
        width = len(self.labels) if self.labels is not None else len(scores[0])
        return [
            [(self.labels[i] if self.labels is not None else "",
              scores[row][i] if scores is not None else 0.0) for i in range(width)]
            for row in range(self.examples)
        ]


@dataclass(frozen=True)
class ModelMetadata:
    model: ServedVersion
    signature_defs: dict[str, Any]
    labels: tuple[str, ...] = ()
    untrained_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Readiness:
    ready: bool
    model: ServedVersion | None = None
    error: str = ""


class InferenceBackend(Protocol):
    """What the front ends call: ``InferenceService`` here, or a client of remote model servers."""

    def predict(self, request: InferenceRequest) -> Prediction:
        """Every output of the request's signature for its one input tensor."""

    def scores(self, request: InferenceRequest) -> Scores:
        """The default signature's scores for the request's images float32 [N,784], with the labels."""

    def classify(self, request: InferenceRequest) -> Classification:
        """TF Serving's Classification API on the request's examples."""

    def metadata(self, spec: ModelSpec) -> ModelMetadata:
        """The version's SignatureDefs."""

    def status(self, spec: ModelSpec) -> list[dict[str, Any]]:
        """TF Serving's ``model_version_status`` entries (newest first)."""

    def model_names(self) -> list[str]:
        """The models a client may choose from."""

    def readiness(self, name: str) -> Readiness:
        """Whether ``name`` answers predictions now."""


def _served(pinned: Servable) -> ServedVersion:
    return ServedVersion(pinned.name, pinned.version, pinned.engine.kind)


def request_values(request: InferenceRequest, signature_input: SignatureInput) -> np.ndarray:
    """The request's tensor for the signature's input, decoded against the request's budget."""
    if isinstance(request.inputs, np.ndarray):
        return request.inputs
    return request.inputs.tensor(signature_input, request.budget)


def probe_request(name: str) -> InferenceRequest:
    """A one-blank-image request of the default signature: what readiness asks a model."""
    budget = ServerLimits(max_instances=1, max_image_pixels=0).budget()
    return InferenceRequest(ModelSpec(name), np.zeros((1, NUM_PIXELS), dtype=np.float32), budget,
                            protocol="health", route="readiness")


class InferenceService:
    """Requests answered by the versions the manager holds (see the module doc)."""

    def __init__(self, manager: ServableManager, batchers: BatcherCache | None) -> None:
        self.manager = manager
        self.batchers = batchers

    def _acquire(self, spec: ModelSpec) -> AbstractContextManager[Servable]:
        return self.manager.acquire(spec.name, version=spec.version, label=spec.label)

    def _scores(self, engine: Engine, images: np.ndarray, request: InferenceRequest) -> np.ndarray:
        request.budget.check("running the model")
        started = time.perf_counter()
        if self.batchers is not None and len(images) <= MODEL_CALL_IMAGES:
            scores = self.batchers.predict(engine, images, request.budget.deadline, request.spec.name)
        else:
            scores = _in_chunks(engine.predict, images)
        _runtime(request, engine, started)
        return scores

    def predict(self, request: InferenceRequest) -> Prediction:
        """Every output of the request's signature (default ``serving_default``) for one input tensor.

        The default signature giving ``scores`` alone is what ``Engine.predict`` computes, so it goes that
        way (the fast session callable, and the batcher when on); any other runs as the signature itself.
        """
        request.budget.check("pinning the model version")
        with self._acquire(request.spec) as pinned:
            engine = pinned.engine
            signature = requested_signature(request, DEFAULT_SIGNATURE)
            signature_input = single_input(engine.signature_defs, signature)
            values = request_values(request, signature_input)
            _noted(request, pinned, values)
            check_pixels(values)
            if signature == DEFAULT_SIGNATURE and engine.signature_outputs(signature) == [SCORES_KEY]:
                outputs = {SCORES_KEY: self._scores(engine, values, request)}
            else:
                request.budget.check("running the model")
                started = time.perf_counter()
                try:
                    outputs = _in_chunks(
                        lambda part: engine.run_signature(signature, {signature_input.name: part}), values)
                except SignatureError as exc:
                    raise InvalidArgumentError(str(exc)) from None
                _runtime(request, engine, started)
            return Prediction(_served(pinned), signature, outputs)

    def scores(self, request: InferenceRequest) -> Scores:
        """The default signature's scores for images float32 [N,784], with the labels of the version.

        A request naming another signature is refused: these are ``serving_default``'s scores.
        """
        request.budget.check("pinning the model version")
        with self._acquire(request.spec) as pinned:
            engine = pinned.engine
            signature = requested_signature(request, DEFAULT_SIGNATURE)
            refuse_other_than_default(engine.signature_defs, signature)
            images = request_values(request, single_input(engine.signature_defs, signature))
            _noted(request, pinned, images)
            check_pixels(images)
            scores = self._scores(engine, images, request)
            return Scores(_served(pinned), scores, engine.labels, engine.untrained_classes)

    def classify(self, request: InferenceRequest) -> Classification:
        """TF Serving's Classification API on the request's examples (the signature's checks, its outputs)."""
        request.api = "Classify"
        request.budget.check("pinning the model version")
        with self._acquire(request.spec) as pinned:
            engine = pinned.engine
            signature = requested_signature(request, CLASSIFY_SIGNATURE)
            outputs = classification_outputs(engine.signature_defs, signature)
            images = request_values(request, SignatureInput(CLASSIFY_INPUT_KEY, "DT_STRING"))
            _noted(request, pinned, images)
            check_pixels(images)
            scores = self._scores(engine, images, request) if SCORES_KEY in outputs else None
            labels = engine.labels if CLASSES_KEY in outputs else None
            return Classification(_served(pinned), labels, scores, len(images))

    def metadata(self, spec: ModelSpec) -> ModelMetadata:
        """The version's SignatureDefs, as TF Serving's GetModelMetadata gives them, its labels and the
        classes it cannot answer."""
        with self._acquire(spec) as pinned:
            engine = pinned.engine
            return ModelMetadata(_served(pinned), engine.signature_defs, engine.labels,
                                 engine.untrained_classes)

    def status(self, spec: ModelSpec) -> list[dict[str, Any]]:
        """TF Serving's ``model_version_status`` entries (newest first)."""
        return self.manager.status(spec.name, version=spec.version, label=spec.label)

    def model_names(self) -> list[str]:
        return self.manager.model_names()

    def readiness(self, name: str) -> Readiness:
        """Whether every configured model is loaded and ``name``'s latest version answers a prediction."""
        if not self.manager.ready():
            return Readiness(False, error="no model version is AVAILABLE yet")
        try:  # through the default signature, as a request would go: its definition is checked too
            prediction = self.predict(probe_request(name))
        except ServingError as exc:
            return Readiness(False, error=str(exc))
        scores = prediction.outputs.get(SCORES_KEY)
        if scores is None or scores.shape != (1, NUM_CLASSES) or not np.isfinite(scores).all():
            return Readiness(False, prediction.model, f"{DEFAULT_SIGNATURE} answered no well-formed "
                             f"{SCORES_KEY} for one image")
        return Readiness(True, prediction.model)


def _noted(request: InferenceRequest, pinned: Servable, values: np.ndarray) -> None:
    """The version that answers and the images it reads, on the request (for its log line and metrics)."""
    request.served_version = pinned.version
    request.images = len(values) if values.ndim else 1


def _runtime(request: InferenceRequest, engine: Engine, started: float) -> None:
    """TF Serving's runtime latency: the model call (with batching, its wait in the queue included)."""
    recorder = metrics.active()
    if recorder is not None:
        recorder.runtime(request.spec.name, request.api, engine.kind, time.perf_counter() - started)


#: Most images in one model call: a larger request runs in parts of this size, so that the network's
#: activations (which grow with the batch) stay bounded whatever MAX_INSTANCES allows; the parts cost
#: no more CPU than one call.
MODEL_CALL_IMAGES = 256


def _in_chunks(run: Any, values: np.ndarray) -> Any:
    """``run(values)`` in parts of MODEL_CALL_IMAGES rows, joined (arrays, or dicts of arrays)."""
    if len(values) <= MODEL_CALL_IMAGES:
        return run(values)
    starts = range(0, len(values), MODEL_CALL_IMAGES)
    parts = [run(values[start:start + MODEL_CALL_IMAGES]) for start in starts]
    if isinstance(parts[0], dict):
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    return np.concatenate(parts)


#: The largest magnitude any pixel encoding gives (0-255, or standardised values): beyond it an input is
#: no picture. Inside it, values outside [0, 1] are answered with a warning (``serving_core.input_checks``).
PIXEL_VALUE_LIMIT = 255.0


def check_pixels(values: np.ndarray) -> None:
    """Refuse float inputs that no pixel encoding gives: finite but huge values (3.4e38) overflow inside
    the network and would answer ``null`` scores. The model reads pixels/255 in [0, 1]."""
    if values.dtype.kind != "f" or values.size == 0:
        return
    if values.min() >= -PIXEL_VALUE_LIMIT and values.max() <= PIXEL_VALUE_LIMIT:  # NaN fails both
        return
    rows = values.reshape(len(values), -1) if values.ndim > 1 else values.reshape(1, -1)
    outside = ~((rows >= -PIXEL_VALUE_LIMIT) & (rows <= PIXEL_VALUE_LIMIT))
    row = int(np.flatnonzero(outside.any(axis=1))[0])
    value = float(rows[row][outside[row]][0])
    raise InvalidArgumentError(
        f"instance {row}: {value:g} is no pixel value: the model reads pixels/255 in [0, 1] "
        "(white ink on black)")
