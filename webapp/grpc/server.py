"""One process's gRPC server over one serving core: TF Serving's services, the Open Inference Protocol's
GRPCInferenceService and the health service, on one port.

``start_grpc_server`` binds and starts it; ``GrpcServer.stop`` turns health to NOT_SERVING, serves on for
the drain, then stops taking new RPCs without cancelling any (``webapp.grpc.rpc_gate``) and lets those in
flight finish within the grace period. Messages larger than the REST body
limit (``MAX_CONTENT_LENGTH``) are refused by gRPC itself with RESOURCE_EXHAUSTED. With ``API_TOKENS`` set,
every RPC but the health service's needs a bearer token in its metadata (``webapp.grpc.tokens``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2_grpc

from serving_core import metrics
from serving_core.server_core import ServerCore
from tf_serving_protos.tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
from webapp.api_tokens import ApiTokens, parse_tokens
from webapp.grpc import v2_servicer
from webapp.grpc.health import ServingHealth
from webapp.grpc.model_service import ModelServicer
from webapp.grpc.observe import ObserveRpcs
from webapp.grpc.prediction_service import PredictionServicer
from webapp.grpc.rpc_gate import RpcGate
from webapp.grpc.tokens import TokenInterceptor
from webapp.request_outcome import RequestOutcomes
from webapp.settings import Settings

#: Time for the GOAWAY to leave before the held RPCs answer: a client reads it first, and sends its next
#: RPC on a new connection rather than on this one.
GOAWAY_SECONDS = 0.2


@dataclass
class GrpcServer:
    server: grpc.Server
    health: ServingHealth
    port: int
    #: The servicers of the inference RPCs (TF Serving's PredictionService, the V2 service).
    servicers: tuple[Any, ...] = ()
    gate: RpcGate = field(default_factory=RpcGate)

    def stop(self, grace: float, drain: float = 0.0) -> None:
        """NOT_SERVING at once; RPCs still served for ``drain`` seconds (a load balancer's time to notice);
        then stop: new RPCs are held until the clients stop sending, so that the stop cancels none
        (``rpc_gate``), the server sends GOAWAY and closes its listener, and the RPCs in flight (the held
        ones too) get ``grace`` seconds. ``grace`` 0: every RPC is cancelled at once."""
        self.health.shutdown()
        time.sleep(drain)
        if grace <= 0:
            self.server.stop(0).wait()
            return
        self.gate.close()
        self.gate.wait_quiet()
        stopped = self.server.stop(grace)
        time.sleep(GOAWAY_SECONDS)
        self.gate.open()
        stopped.wait()


def core_reloader(
    core: ServerCore, relay: Callable[[Any], None] | None = None, reloaded: Callable[[], None] | None = None,
) -> Callable[[Any], None]:
    """``core.reload_config`` of a ``ModelServerConfig``, then ``reloaded`` (this front end's health
    statuses) and ``relay`` (the config handed to the other gRPC worker processes)."""

    def reload_config(config: Any) -> None:
        core.reload_config(config)
        if reloaded is not None:
            reloaded()
        if relay is not None:
            relay(config)

    return reload_config


def server_options(settings: Settings, reuse_port: bool) -> list[tuple[str, Any]]:
    return [
        ("grpc.so_reuseport", 1 if reuse_port else 0),
        ("grpc.max_receive_message_length", settings["MAX_CONTENT_LENGTH"]),
        ("grpc.max_send_message_length", -1),
    ]


def interceptors(settings: Settings, gate: RpcGate) -> list[grpc.ServerInterceptor]:
    """The gate that holds new RPCs while the server stops (``webapp.grpc.rpc_gate``), the RPCs'
    observation (``webapp.grpc.observe``: request ids, metrics, access log), then the token check
    (``webapp.grpc.tokens``) when ``API_TOKENS`` is set."""
    recorder = metrics.enable() if settings["METRICS"] else None
    observe = ObserveRpcs(RequestOutcomes(recorder, settings["ACCESS_LOG"]))
    tokens = ApiTokens(parse_tokens(settings["API_TOKENS"]))
    return [gate, observe, TokenInterceptor(tokens)] if tokens.required else [gate, observe]


def start_grpc_server(
    settings: Settings,
    core: ServerCore,
    address: str,
    reuse_port: bool = False,
    relay: Callable[[Any], None] | None = None,
) -> GrpcServer:
    """Serve ``core`` on ``address`` (``host:port``; port 0 picks one) and start; the bound port is kept."""
    gate = RpcGate()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings["GRPC_THREADS"], thread_name_prefix="grpc-rpc"),
        options=server_options(settings, reuse_port),
        interceptors=interceptors(settings, gate),
    )
    service = core.service
    limits = settings.server_limits()  # one per process: its pixel gate is shared by every RPC
    health = ServingHealth(service)
    prediction = PredictionServicer(service, limits)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(prediction, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelServicer(service, core_reloader(core, relay, health.update)), server)
    inference = v2_servicer.add_to_server(server, service, limits)
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    port = server.add_insecure_port(address)
    server.start()
    health.start()
    return GrpcServer(server, health, port, (prediction, inference), gate)
