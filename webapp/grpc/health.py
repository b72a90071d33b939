"""``grpc.health.v1.Health`` (grpcio-health-checking) kept in line with what the server can answer.

Service names, as ``grpc_health_probe -service=NAME`` asks for them: each model's name is SERVING while
it has an AVAILABLE version; ``""`` (the server) and the two TF Serving services are SERVING while every
configured model is (gRPC clients name their model, so there is no default model to wait for, unlike
``/readyz``). A model that leaves the config becomes SERVICE_UNKNOWN. The statuses are refreshed every
second and right after a config reload. At shutdown everything turns NOT_SERVING first, so load
balancers stop sending before the server stops.
"""

from __future__ import annotations

import logging
import threading

from grpc_health.v1 import health, health_pb2

from serving_core.errors import ServingError
from serving_core.lifecycle.manager import ServableState
from serving_core.service import InferenceBackend, ModelSpec
from tf_serving_protos.tensorflow_serving.apis import model_service_pb2, prediction_service_pb2

log = logging.getLogger(__name__)

Status = health_pb2.HealthCheckResponse.ServingStatus
#: The services' full names, as gRPC and the health service know them.
PREDICTION_SERVICE = prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"].full_name
MODEL_SERVICE = model_service_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name
SERVER_SERVICES = ("", PREDICTION_SERVICE, MODEL_SERVICE)
POLL_SECONDS = 1.0


class ServingHealth:
    """The health servicer and the thread that refreshes its statuses (see the module doc)."""

    def __init__(self, service: InferenceBackend, poll_seconds: float = POLL_SECONDS) -> None:
        self.service = service
        self.poll_seconds = poll_seconds
        self.servicer = health.HealthServicer(experimental_non_blocking=True)
        self._models: set[str] = set()
        self._lock = threading.Lock()  # the poll thread and a config reload may update at once
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.update()

    def _model_available(self, name: str) -> bool:
        try:
            entries = self.service.status(ModelSpec(name))
        except ServingError:
            return False
        return any(entry["state"] == ServableState.AVAILABLE for entry in entries)

    def update(self) -> None:
        """Set every status from the service's state now."""
        with self._lock:
            names = self.service.model_names()
            available = {name: self._model_available(name) for name in names}
            for name, serving in available.items():
                self.servicer.set(name, Status.SERVING if serving else Status.NOT_SERVING)
            for name in self._models - set(names):
                self.servicer.set(name, Status.SERVICE_UNKNOWN)
            self._models = set(names)
            ready = bool(available) and all(available.values())
            for name in SERVER_SERVICES:
                self.servicer.set(name, Status.SERVING if ready else Status.NOT_SERVING)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.update()
            except Exception:  # the health thread must outlive any one failed poll
                log.exception("updating the gRPC health statuses failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="grpc-health", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Everything NOT_SERVING from now on, and stop polling."""
        self.servicer.enter_graceful_shutdown()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
