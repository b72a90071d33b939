"""A gRPC server interceptor: with ``API_TOKENS`` set, an RPC without a valid bearer token in its
``authorization`` metadata ends UNAUTHENTICATED, before any servicer runs.

Every service is covered (TF Serving's PredictionService and ModelService, the Open Inference Protocol's)
except the standard health service: load balancers and ``grpc_health_probe`` call it without a token,
as the REST probes (/healthz, /readyz) are called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from webapp.api_tokens import ApiTokens

#: The service that stays open: the standard gRPC health checking protocol.
OPEN_SERVICE_PREFIX = "/grpc.health.v1.Health/"


class TokenInterceptor(grpc.ServerInterceptor):
    """Ends RPCs whose ``authorization`` metadata holds no valid token with UNAUTHENTICATED."""

    def __init__(self, tokens: ApiTokens) -> None:
        self.tokens = tokens

    def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(OPEN_SERVICE_PREFIX):
            return handler
        authorization = next((value for key, value in handler_call_details.invocation_metadata or ()
                              if key == "authorization" and isinstance(value, str)), None)
        reason = self.tokens.refusal(authorization)
        return handler if reason is None else _refusing(handler, reason)


def _refusing(handler: grpc.RpcMethodHandler, reason: str) -> grpc.RpcMethodHandler:
    """A handler of the same RPC shape that ends the call UNAUTHENTICATED with ``reason``."""

    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)

    codecs = {"request_deserializer": handler.request_deserializer,
              "response_serializer": handler.response_serializer}
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse, **codecs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse, **codecs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse, **codecs)
    return grpc.unary_unary_rpc_method_handler(refuse, **codecs)
