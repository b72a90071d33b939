"""``RemoteInferenceService``: the inference service's calls, answered by remote model servers.

The front ends call it exactly as they call ``serving_core.service.InferenceService`` (both are an
``InferenceBackend``), so the page, ``/predict`` and the TF Serving REST routes keep their contract;
request bodies are decoded here, in the front end, and tensors go to the model servers.

Each call has a deadline (``MODEL_SERVER_TIMEOUT_SECONDS``, retries included) and starts at the next
server in turn (client-side round robin); a server that is unavailable is skipped for a second and the
call moves to the next one, pausing with a doubling backoff after each full round, up to
``MODEL_SERVER_RETRIES`` further attempts (``webapp.remote.errors`` says which failures these are).
Answers name the version that answered and, as its engine, the model server's address.

What a request needs to know of a signature (the input's name and dtype, to read TF Serving's JSON) and
each version's labels are asked once and remembered (the labels through one Classify of a blank image;
a model without a classify signature has the contract's ByClass labels). Signatures are chosen and
checked by the same rules, in the same words, as in-process (``serving_core.signature_rules``).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from emnist_contract.signatures import CLASSIFY_INPUT_KEY, CLASSIFY_SIGNATURE, DEFAULT_SIGNATURE, SCORES_KEY
from serving_core import metrics
from serving_core.errors import Code, ServingError, UnavailableError
from serving_core.request import InferenceRequest, ModelSpec, SignatureInput
from serving_core.service import (
    Classification,
    ModelMetadata,
    Prediction,
    Readiness,
    Scores,
    ServedVersion,
    check_pixels,
    probe_request,
    request_values,
)
from serving_core.signature_rules import (
    output_dtypes,
    refuse_other_than_default,
    requested_signature,
    single_input,
)
from webapp.remote.addresses import ModelServerAddress
from webapp.remote.errors import ModelServerUnavailableError, bad_gateway
from webapp.remote.grpc_client import GrpcModelServer
from webapp.remote.http_client import HttpModelServer

T = TypeVar("T")
BACKOFF_SECONDS = 0.05
DOWN_SECONDS = 1.0
SIGNATURE_SECONDS = 30.0


@dataclass(frozen=True)
class SignatureInfo:
    """What a request needs of a remote signature: its one input, its outputs' dtypes, the whole map."""

    input: SignatureInput
    output_types: dict[str, str]
    signature_defs: dict[str, Any]


def signature_info(signature_defs: dict[str, Any], signature: str) -> SignatureInfo:
    """The one input and the outputs' dtypes of a signature, with the in-process service's refusals."""
    return SignatureInfo(single_input(signature_defs, signature), output_dtypes(signature_defs, signature),
                         signature_defs)


def _count_call(server: str, outcome: str, started: float) -> None:
    """One call to a model server in the metrics: its server, its outcome (a code's name), its time."""
    recorder = metrics.active()
    if recorder is not None:
        recorder.remote_call(server, outcome, time.perf_counter() - started)


class RemoteInferenceService:
    """An ``InferenceBackend`` over remote model servers (see the module doc)."""

    def __init__(self, addresses: list[ModelServerAddress], default_model: str, timeout: float,
                 retries: int) -> None:
        if not addresses:
            raise ValueError("no model server address")
        self.servers = [GrpcModelServer(a) if a.scheme == "grpc" else HttpModelServer(a) for a in addresses]
        self.default_model = default_model
        self.timeout = timeout
        self.retries = retries
        self._turn = itertools.count()
        self._down_until = {server.url: 0.0 for server in self.servers}
        self._signatures: dict[tuple, tuple[float, SignatureInfo]] = {}
        self._labels: dict[tuple, tuple[str, ...]] = {}
        self._untrained: dict[tuple, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        for server in self.servers:
            server.close()

    # --- one call, over the servers -------------------------------------------------------------

    @staticmethod
    @contextlib.contextmanager
    def _in_time(request: InferenceRequest) -> Iterator[None]:
        """A call that ran out of the request's own time is refused in the request's words (its deadline
        came before MODEL_SERVER_TIMEOUT_SECONDS)."""
        try:
            yield
        except ServingError as exc:
            deadline = request.deadline
            if exc.code is Code.DEADLINE_EXCEEDED and deadline is not None and deadline.expired():
                raise deadline.exceeded("the model server's answer") from None
            raise

    def _deadline(self, request: InferenceRequest | None = None) -> float:
        """The call's ``time.monotonic()`` deadline: MODEL_SERVER_TIMEOUT_SECONDS, or the request's own
        when that comes first."""
        own = time.monotonic() + self.timeout
        if request is None or request.deadline is None:
            return own
        return min(own, request.deadline.expires)

    def _order(self) -> list[Any]:
        start = next(self._turn) % len(self.servers)
        turn = self.servers[start:] + self.servers[:start]
        now = time.monotonic()
        return sorted(turn, key=lambda server: self._down_until[server.url] > now)  # stable: up ones first

    def _call(self, operation: Callable[[Any, float], T], deadline: float) -> T:
        order = self._order()
        failures: dict[str, str] = {}  # the last failure of each server
        for attempt in range(self.retries + 1):
            rounds, index = divmod(attempt, len(order))
            if attempt and index == 0:
                time.sleep(max(0.0, min(BACKOFF_SECONDS * 2 ** (rounds - 1), deadline - time.monotonic())))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            server = order[index]
            started = time.perf_counter()
            try:
                answer = operation(server, remaining)
            except ServingError as exc:
                _count_call(server.url, exc.code.name, started)
                if exc.code is Code.DEADLINE_EXCEEDED:  # say which deadline
                    raise ServingError(f"{exc.message} of {self.timeout:g} s", exc.code,
                                       http_status=exc.http_status) from None
                raise
            except ModelServerUnavailableError as exc:
                _count_call(server.url, Code.UNAVAILABLE.name, started)
                failures[server.url] = str(exc)
                self._down_until[server.url] = time.monotonic() + DOWN_SECONDS
            else:
                _count_call(server.url, Code.OK.name, started)
                return answer
        reasons = "; ".join(f"{url}: {reason}" for url, reason in failures.items())
        if time.monotonic() >= deadline:
            detail = f" ({reasons})" if reasons else ""
            raise ServingError(f"no model server answered within the deadline of {self.timeout:g} s{detail}",
                               Code.DEADLINE_EXCEEDED, http_status=504)
        raise UnavailableError(f"no model server could answer: {reasons}", http_status=503)

    # --- what requests need to know of a model --------------------------------------------------

    def _signature(self, spec: ModelSpec, signature: str, deadline: float) -> SignatureInfo:
        key = (spec.name, spec.version, spec.label, signature)
        with self._lock:
            cached = self._signatures.get(key)
        if cached is not None and time.monotonic() - cached[0] < SIGNATURE_SECONDS:
            return cached[1]
        _, signature_defs = self._call(lambda server, timeout: server.metadata(spec, timeout), deadline)
        info = signature_info(signature_defs, signature)
        with self._lock:
            self._signatures[key] = (time.monotonic(), info)
        return info

    def _version_labels(self, server: Any, name: str, version: int, deadline: float) -> tuple[str, ...]:
        key = (server.url, name, version)
        with self._lock:
            labels = self._labels.get(key)
        if labels is not None:
            return labels
        try:
            labels = server.classify(ModelSpec(name, version), CLASSIFY_SIGNATURE, probe_request(name).inputs,
                                     deadline - time.monotonic()).labels or BYCLASS_LABELS
        except ServingError as exc:
            if exc.code not in (Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION):
                raise
            labels = BYCLASS_LABELS  # no classify signature: the contract's order
        if len(labels) != NUM_CLASSES:
            raise bad_gateway(server.url, f"answered {len(labels)} class labels, expected {NUM_CLASSES}")
        with self._lock:
            self._labels[key] = labels
        return labels

    def _untrained_classes(self, server: Any, name: str, version: int, deadline: float) -> tuple[str, ...]:
        """The version's classes without training images, asked once; nothing known from a server that
        does not have the model_info field (a real TF Serving refuses it)."""
        key = (server.url, name, version)
        with self._lock:
            untrained = self._untrained.get(key)
        if untrained is not None:
            return untrained
        try:
            untrained = server.untrained_classes(ModelSpec(name, version), deadline - time.monotonic())
        except ServingError as exc:
            if exc.code is not Code.INVALID_ARGUMENT:
                raise
            untrained = ()
        with self._lock:
            self._untrained[key] = untrained
        return untrained

    def _version_facts(self, server: Any, name: str, version: int,
                       deadline: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The labels and untrained classes of the version that has just answered.

        Asked of the same address, they may reach another replica (a load balancer, a name resolving to
        several servers); while a new version is being rolled out, that replica may not have it yet. A
        NOT_FOUND here is that, not the client's error: the whole call is tried again.
        """
        try:
            return (self._version_labels(server, name, version, deadline),
                    self._untrained_classes(server, name, version, deadline))
        except ServingError as exc:
            if exc.code is not Code.NOT_FOUND:
                raise
            raise ModelServerUnavailableError(
                f"version {version} answered, then a replica behind the same address did not have it "
                f"(a version being rolled out): {exc.message}") from None

    # --- the InferenceBackend calls -------------------------------------------------------------

    def _start(self, request: InferenceRequest) -> tuple[float, str, SignatureInfo]:
        """The call's deadline, the signature the request runs, and what it needs of it (asked once)."""
        request.budget.check("asking a model server")
        deadline = self._deadline(request)
        signature = requested_signature(request, DEFAULT_SIGNATURE)
        with self._in_time(request):
            info = self._signature(request.spec, signature, deadline)
        return deadline, signature, info

    def predict(self, request: InferenceRequest) -> Prediction:
        spec = request.spec
        deadline, signature, info = self._start(request)
        values = request_values(request, info.input)
        request.images = len(values)
        check_pixels(values)

        def run(server: Any, timeout: float) -> Prediction:
            answer = server.predict(spec, signature, info.input.name, values, timeout, info.output_types)
            request.served_version = answer.version
            return Prediction(ServedVersion(spec.name, answer.version, server.url), signature, answer.outputs)

        with self._in_time(request):
            return self._call(run, deadline)

    def scores(self, request: InferenceRequest) -> Scores:
        spec = request.spec
        deadline, signature, info = self._start(request)
        refuse_other_than_default(info.signature_defs, signature)
        images = request_values(request, info.input)
        request.images = len(images)
        check_pixels(images)

        def run(server: Any, timeout: float) -> Scores:
            answer = server.predict(spec, DEFAULT_SIGNATURE, info.input.name, images, timeout,
                                    info.output_types)
            request.served_version = answer.version
            outputs = answer.outputs
            scores = outputs.get(SCORES_KEY, next(iter(outputs.values())) if len(outputs) == 1 else None)
            if scores is None or scores.shape != (len(images), NUM_CLASSES) or scores.dtype.kind != "f":
                shape = None if scores is None else list(scores.shape)
                raise bad_gateway(server.url, f"answered scores of shape {shape} for {len(images)} images")
            labels, untrained = self._version_facts(server, spec.name, answer.version, deadline)
            return Scores(ServedVersion(spec.name, answer.version, server.url), scores, labels, untrained)

        with self._in_time(request):
            return self._call(run, deadline)

    def classify(self, request: InferenceRequest) -> Classification:
        request.budget.check("asking a model server")
        deadline = self._deadline(request)
        spec = request.spec
        signature = requested_signature(request, CLASSIFY_SIGNATURE)
        request.api = "Classify"
        images = request_values(request, SignatureInput(CLASSIFY_INPUT_KEY, "DT_STRING"))
        request.images = len(images)
        check_pixels(images)

        def run(server: Any, timeout: float) -> Classification:
            answer = server.classify(spec, signature, images, timeout)
            request.served_version = answer.version
            return Classification(ServedVersion(spec.name, answer.version, server.url), answer.labels,
                                  answer.scores, len(images))

        with self._in_time(request):
            return self._call(run, deadline)

    def metadata(self, spec: ModelSpec) -> ModelMetadata:
        deadline = self._deadline()

        def run(server: Any, timeout: float) -> ModelMetadata:
            version, signature_defs = server.metadata(spec, timeout)
            labels, untrained = self._version_facts(server, spec.name, version, deadline)
            served = ServedVersion(spec.name, version, server.url)
            return ModelMetadata(served, signature_defs, labels, untrained)

        return self._call(run, deadline)

    def status(self, spec: ModelSpec) -> list[dict[str, Any]]:
        return self._call(lambda server, timeout: server.status(spec, timeout), self._deadline())

    def model_names(self) -> list[str]:
        return [self.default_model]

    def readiness(self, name: str) -> Readiness:
        """Ready when a model server answers a prediction of ``name`` now (the way /predict would)."""
        try:
            answer = self.scores(probe_request(name))
        except ServingError as exc:
            return Readiness(False, error=str(exc))
        if not np.isfinite(answer.scores).all():
            return Readiness(False, answer.model, "the model answered malformed scores")
        return Readiness(True, answer.model)
