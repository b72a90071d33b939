"""A gRPC server interceptor that can hold new RPCs for a moment: how the server stops without cancelling any.

Why: grpcio's ``Server.stop`` (gRPC's core) cancels every call that has reached the server but that no
handler has been given yet, and every call that arrives before the client has read the server's GOAWAY:
the client gets CANCELLED for an RPC that never started. (Those RPCs are sent on a connection the client
already has, so they are not refused connections a client would retry elsewhere.) Before stopping, the
server therefore closes this gate: an RPC that arrives is given to a handler as usual (so the stop does
not cancel it) but waits before it runs. A client that waits for each answer before sending its next
RPC, as a stub called from a thread does, then stops sending. Once no RPC has arrived for a moment the
server stops (GOAWAY: the clients' next RPCs go to a new connection, refused once the listener is
closed) and opens the gate: the held RPCs run and answer within the grace period.

The health service is never held: probes must be answered (NOT_SERVING by then).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import grpc

from webapp.grpc.tokens import OPEN_SERVICE_PREFIX

#: No new RPC for this long: the clients have stopped sending (a held RPC is one they wait for).
QUIET_SECONDS = 0.2
#: At most this long holding (clients that never stop sending, e.g. streams of asynchronous calls).
LONGEST_HOLD_SECONDS = 2.0


class RpcGate(grpc.ServerInterceptor):
    """Open: RPCs pass untouched. Closed: each new RPC waits, in its handler's thread, until it opens."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()
        self._last_arrival = 0.0

    def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if self._open.is_set() or handler is None or handler_call_details.method.startswith(
                OPEN_SERVICE_PREFIX):
            return handler
        self._last_arrival = time.monotonic()
        return _waiting(handler, self._open)

    def close(self) -> None:
        self._last_arrival = time.monotonic()
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    def wait_quiet(self, quiet: float = QUIET_SECONDS, longest: float = LONGEST_HOLD_SECONDS) -> None:
        """Until no RPC has arrived for ``quiet`` seconds, or ``longest`` seconds have passed."""
        until = time.monotonic() + longest
        while (now := time.monotonic()) < until:
            left = self._last_arrival + quiet - now
            if left <= 0:
                return
            time.sleep(min(left, until - now))


def _waiting(handler: grpc.RpcMethodHandler, gate: threading.Event) -> grpc.RpcMethodHandler:
    """The same handler, its behaviour first waiting for ``gate``."""

    def wait(behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def waited(request: Any, context: grpc.ServicerContext) -> Any:
            gate.wait()
            return behaviour(request, context)

        return waited

    codecs = {"request_deserializer": handler.request_deserializer,
              "response_serializer": handler.response_serializer}
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(wait(handler.stream_stream), **codecs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(wait(handler.stream_unary), **codecs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(wait(handler.unary_stream), **codecs)
    return grpc.unary_unary_rpc_method_handler(wait(handler.unary_unary), **codecs)
