"""The gRPC server's one observation point: an interceptor around every unary RPC of every service.

It takes the call's ``x-request-id`` metadata (or makes an id), returns it in the trailing metadata, and
opens the RPC's ``RequestRecord`` for the thread that runs it (``webapp.grpc.calls`` builds the core's
request with that id and notes it); when the RPC ends, its status goes to ``webapp.request_outcome``
(metrics, access log). Placed first, it also sees the RPCs the token check refuses. The health service's
streaming Watch is passed through unobserved (it lasts as long as its client watches).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from serving_core.errors import Code
from serving_core.observation import RequestRecord, begin, end
from serving_core.request import new_request_id
from webapp.grpc.calls import MAX_REQUEST_ID, REQUEST_ID_KEY
from webapp.request_outcome import RequestOutcomes

#: The protocol of each service's RPCs (the inference RPCs' requests name theirs too).
_PROTOCOLS = {
    "tensorflow.serving.PredictionService": "tfserving-grpc",
    "tensorflow.serving.ModelService": "tfserving-grpc",
    "inference.GRPCInferenceService": "v2-grpc",
    "grpc.health.v1.Health": "health-grpc",
}


def metadata_request_id(metadata: Any) -> str:
    """The call's ``x-request-id`` when it is printable and at most MAX_REQUEST_ID long, else a new id."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and 0 < len(value) <= MAX_REQUEST_ID \
                and value.isprintable():
            return value
    return new_request_id()


class ObserveRpcs(grpc.ServerInterceptor):
    """Request ids in and out, one ``RequestRecord`` per RPC (see the module doc)."""

    def __init__(self, outcomes: RequestOutcomes) -> None:
        self.outcomes = outcomes

    def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.response_streaming:
            return handler
        method = handler_call_details.method
        service, _, rpc = method.strip("/").rpartition("/")
        protocol = _PROTOCOLS.get(service, "grpc")
        behavior = handler.unary_unary
        outcomes = self.outcomes

        def observed(request: Any, context: Any) -> Any:
            record = RequestRecord(metadata_request_id(context.invocation_metadata()), method)
            record.protocol, record.route = protocol, rpc
            context.set_trailing_metadata(((REQUEST_ID_KEY, record.request_id),))
            token = begin(record)
            response = None
            failed = False
            try:
                response = behavior(request, context)
                return response
            except BaseException:
                failed = True
                raise
            finally:
                end(token)
                code = context.code()
                name = code.name if code is not None else (Code.UNKNOWN.name if failed else Code.OK.name)
                size = response.ByteSize() if outcomes.access_log_on and response is not None else 0
                outcomes.finish(record, name, name, size)

        return grpc.unary_unary_rpc_method_handler(
            observed, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)
