"""One RPC as the core's request: the model spec and inputs, a budget against the server's limits with the
earlier of the server's deadline and the client's, the request id from the call's metadata.

The gRPC counterpart of ``webapp.http.calls``: every servicer builds its ``InferenceRequest`` here, so
limits and deadlines hold on gRPC exactly as on REST.
"""

from __future__ import annotations

from typing import Any

from serving_core import observation
from serving_core.deadline import Deadline
from serving_core.payloads.limits import ServerLimits
from serving_core.request import InferenceRequest, Inputs, ModelSpec, new_request_id

#: The metadata key a client names its request with (gRPC keys are lower case).
REQUEST_ID_KEY = "x-request-id"
MAX_REQUEST_ID = 200


def request_id(context: Any) -> str:
    """The id the RPC's observation settled on (``webapp.grpc.observe``), else the call's ``x-request-id``
    metadata, or a new id."""
    observed = observation.current_request_id()
    if observed is not None:
        return observed
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and 0 < len(value) <= MAX_REQUEST_ID \
                and value.isprintable():
            return value
    return new_request_id()


def inference_request(context: Any, limits: ServerLimits, spec: ModelSpec, inputs: Inputs, protocol: str,
                      rpc: str) -> InferenceRequest:
    """The core's request for one RPC (its deadline counted from now, the RPC's start)."""
    budget = limits.budget(client_deadline=Deadline.from_client(context.time_remaining()))
    request = InferenceRequest(spec, inputs, budget, protocol, rpc, request_id(context))
    observation.note_inference(request)
    return request
