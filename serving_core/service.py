"""The one inference service every front end calls: predict, classify, metadata, status, by model spec.

TF Serving's PredictionService and ModelService implementations, and MLServer's DataPlane, without a
transport. It is the only place that pins a version, checks a request against the version's signature
and chooses between the dynamic batcher and the engine; front ends only translate their protocol into
these calls and the answers back. Every refusal is a ``ServingError``.

``InferenceBackend`` is the interface the front ends call: this service in-process, or a client of
remote model servers that answers the same calls (``webapp.remote``). A call may carry a deadline (a
``time.monotonic()`` instant, from a gRPC client's): no model call starts after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.signatures import (
    CLASSES_KEY,
    CLASSIFY_INPUT_KEY,
    CLASSIFY_METHOD,
    CLASSIFY_SIGNATURE,
    DEFAULT_SIGNATURE,
    SCORES_KEY,
)
from emnist_contract.tensors import NUM_PIXELS
from serving_core.batching import BatcherCache
from serving_core.engines import SignatureError
from serving_core.errors import InvalidArgumentError, ServingError, check_deadline
from serving_core.lifecycle.manager import Servable, ServableManager


@dataclass(frozen=True)
class ModelSpec:
    """Which model, which version (a number or a label, or neither for the latest) and which signature."""

    name: str
    version: int | None = None
    label: str | None = None
    #: Empty: the call's default (``serving_default`` for predict, ``classify`` for classify).
    signature_name: str = ""


@dataclass(frozen=True)
class ServedVersion:
    """The version that answered: TF Serving's answer ``model_spec``, plus the engine that ran it."""

    name: str
    version: int
    engine: str


@dataclass(frozen=True)
class SignatureInput:
    """The one input of the signature a request runs: its name and TF dtype (``DT_FLOAT``, ``DT_STRING``)."""

    name: str
    dtype: str


class RequestInputs(Protocol):
    """A request body decoded only once its version is pinned: it names its signature, then its tensor.

    TF Serving's JSON formats need the signature's input (its name, and whether it takes strings) to
    read the body, so the service asks for the tensor after it has the version in hand.
    """

    def signature_name(self) -> str:
        """The signature the request names ("" for the default)."""

    def tensor(self, signature_input: SignatureInput) -> np.ndarray:
        """The request's tensor for the signature's one input."""


#: A request's input: the array itself (for the spec's signature), or a body that decodes itself.
Inputs = np.ndarray | RequestInputs


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

    def predict(self, spec: ModelSpec, inputs: Inputs, deadline: float | None = None) -> Prediction:
        """Every output of the spec's signature for one input tensor."""

    def scores(self, spec: ModelSpec, images: np.ndarray, deadline: float | None = None) -> Scores:
        """The default signature's scores for images float32 [N,784], with the version's labels."""

    def classify(self, spec: ModelSpec, images: np.ndarray, deadline: float | None = None) -> Classification:
        """TF Serving's Classification API on images [N,784]."""

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


class InferenceService:
    """Requests by model spec, answered by the versions the manager holds (see the module doc)."""

    def __init__(self, manager: ServableManager, batchers: BatcherCache | None) -> None:
        self.manager = manager
        self.batchers = batchers

    def _acquire(self, spec: ModelSpec) -> Any:
        return self.manager.acquire(spec.name, version=spec.version, label=spec.label)

    def _scores(self, engine: Any, images: np.ndarray, deadline: float | None) -> np.ndarray:
        if self.batchers is not None and len(images) <= MODEL_CALL_IMAGES:
            return self.batchers.predict(engine, images, deadline)
        check_deadline(deadline)
        return _in_chunks(engine.predict, images)

    def predict(self, spec: ModelSpec, inputs: Inputs, deadline: float | None = None) -> Prediction:
        """Every output of the spec's signature (default ``serving_default``) for one input tensor.

        The default signature giving ``scores`` alone is what ``Engine.predict`` computes, so it goes that
        way (the fast session callable, and the batcher when on); any other runs as the signature itself.
        """
        with self._acquire(spec) as pinned:
            engine = pinned.engine
            if isinstance(inputs, np.ndarray):
                signature = spec.signature_name or DEFAULT_SIGNATURE
                input_name, _ = _single_input(engine, signature)
                values = inputs
            else:
                signature = inputs.signature_name() or spec.signature_name or DEFAULT_SIGNATURE
                input_name, input_info = _single_input(engine, signature)
                values = inputs.tensor(SignatureInput(input_name, input_info.get("dtype", "")))
            check_pixels(values)
            if signature == DEFAULT_SIGNATURE and engine.signature_outputs(signature) == [SCORES_KEY]:
                outputs = {SCORES_KEY: self._scores(engine, values, deadline)}
            else:
                check_deadline(deadline)
                try:
                    outputs = _in_chunks(lambda part: engine.run_signature(signature, {input_name: part}),
                                         values)
                except SignatureError as exc:
                    raise InvalidArgumentError(str(exc)) from None
            return Prediction(_served(pinned), signature, outputs)

    def scores(self, spec: ModelSpec, images: np.ndarray, deadline: float | None = None) -> Scores:
        """The default signature's scores for images float32 [N,784], with the labels of the version.

        A request naming another signature is refused: these are ``serving_default``'s scores.
        """
        check_pixels(images)
        with self._acquire(spec) as pinned:
            if spec.signature_name not in ("", DEFAULT_SIGNATURE):
                _single_input(pinned.engine, spec.signature_name)  # TF Serving's error for an unknown one
                raise InvalidArgumentError(
                    f"signature {spec.signature_name} is not answered here: this route gives "
                    f"{DEFAULT_SIGNATURE}'s scores, labels and top k; use :predict for other signatures")
            scores = self._scores(pinned.engine, images, deadline)
            return Scores(_served(pinned), scores, pinned.engine.labels, _untrained(pinned.engine))

    def classify(
        self, spec: ModelSpec, images: np.ndarray, deadline: float | None = None
    ) -> Classification:
        """TF Serving's Classification API on images [N,784] (the signature's checks and its outputs)."""
        signature = spec.signature_name or CLASSIFY_SIGNATURE
        check_pixels(images)
        with self._acquire(spec) as pinned:
            outputs = _classification_outputs(pinned.engine, signature)
            check_deadline(deadline)
            scores = self._scores(pinned.engine, images, deadline) if SCORES_KEY in outputs else None
            labels = pinned.engine.labels if CLASSES_KEY in outputs else None
            return Classification(_served(pinned), labels, scores)

    def metadata(self, spec: ModelSpec) -> ModelMetadata:
        """The version's SignatureDefs, as TF Serving's GetModelMetadata gives them, its labels and the
        classes it cannot answer."""
        with self._acquire(spec) as pinned:
            engine = pinned.engine
            return ModelMetadata(_served(pinned), engine.signature_defs, engine.labels, _untrained(engine))

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
            prediction = self.predict(ModelSpec(name), np.zeros((1, NUM_PIXELS), dtype=np.float32))
        except ServingError as exc:
            return Readiness(False, error=str(exc))
        scores = prediction.outputs.get(SCORES_KEY)
        if scores is None or scores.shape != (1, NUM_CLASSES) or not np.isfinite(scores).all():
            return Readiness(False, prediction.model, f"{DEFAULT_SIGNATURE} answered no well-formed "
                             f"{SCORES_KEY} for one image")
        return Readiness(True, prediction.model)


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


def _untrained(engine: Any) -> tuple[str, ...]:
    """The engine's untrained classes (engines built outside ``Engine``, such as test doubles, know none)."""
    return tuple(getattr(engine, "untrained_classes", ()))


def _single_input(engine: Any, signature: str) -> tuple[str, dict[str, Any]]:
    """The one input (name, TensorInfo) of a signature; this server feeds signatures with one input."""
    try:
        inputs = engine.signature_inputs(signature)
    except SignatureError as exc:
        raise InvalidArgumentError(str(exc)) from None
    if len(inputs) != 1:
        raise InvalidArgumentError(f"signature {signature} takes {len(inputs)} inputs; this server feeds one")
    ((input_name, input_info),) = inputs.items()
    return input_name, input_info


def _classification_outputs(engine: Any, signature: str) -> set[str]:
    """Which of ``classes`` / ``scores`` a classify signature gives, with TF Serving's checks and errors."""
    definition = engine.signature_defs["signature_def"].get(signature)
    if definition is None:
        raise InvalidArgumentError(f"No signature was found with the name: {signature}")
    method = definition.get("method_name", "")
    if method != CLASSIFY_METHOD:
        raise InvalidArgumentError(
            f"Expected classification signature method_name to be {CLASSIFY_METHOD}. Was: {method}"
        )
    inputs = definition.get("inputs", {})
    if len(inputs) != 1:
        raise InvalidArgumentError("Expected one input Tensor.")
    if CLASSIFY_INPUT_KEY not in inputs:
        raise InvalidArgumentError(f"No classification inputs found in SignatureDef {signature}")
    outputs = set(definition.get("outputs", {})) & {CLASSES_KEY, SCORES_KEY}
    if not outputs:
        raise InvalidArgumentError(
            f'Expected classification signature outputs to contain at least one of "{CLASSES_KEY}" or '
            f'"{SCORES_KEY}". Signature was: {signature}'
        )
    return outputs
