"""One inference request as every front end builds it and the core carries it.

TF Serving's PredictRequest with its RPC context, MLServer's InferenceRequest: which model and signature,
the inputs (decoded only once the version is pinned, since TF Serving's formats need the signature to
be read), the request's budget against the server's limits (its deadline and what it has had decoded),
an id, and where it came from (the protocol and the route or RPC, for the logs and metrics). Whatever the
protocol, ``InferenceService`` enforces the budget and the deadline the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from serving_core.deadline import Deadline
from serving_core.payloads.limits import RequestBudget


@dataclass(frozen=True)
class ModelSpec:
    """Which model, which version (a number or a label, or neither for the latest) and which signature."""

    name: str
    version: int | None = None
    label: str | None = None
    #: Empty: the call's default (``serving_default`` for predict, ``classify`` for classify).
    signature_name: str = ""


@dataclass(frozen=True)
class SignatureInput:
    """The one input of the signature a request runs: its name and TF dtype (``DT_FLOAT``, ``DT_STRING``)."""

    name: str
    dtype: str


class RequestInputs(Protocol):
    """A request body decoded only once its version is pinned: it names its signature, then its tensor.

    TF Serving's JSON formats need the signature's input (its name, and whether it takes strings) to
    read the body, so the service asks for the tensor after it has the version in hand. Decoding is
    charged to the budget it is given.
    """

    def signature_name(self) -> str:
        """The signature the request names ("" for the spec's, or the call's default)."""

    def tensor(self, signature_input: SignatureInput, budget: RequestBudget) -> np.ndarray:
        """The request's tensor for the signature's one input."""


#: A request's input: the array itself (for the spec's signature), or a body that decodes itself.
Inputs = np.ndarray | RequestInputs


def new_request_id() -> str:
    """A request id for a request that brought none (32 random hex digits)."""
    return os.urandom(16).hex()


@dataclass
class InferenceRequest:
    """One call of the inference service (see the module doc)."""

    spec: ModelSpec
    inputs: Inputs
    budget: RequestBudget
    #: The protocol that carried it: tfserving-rest, tfserving-grpc, v2-rest, v2-grpc, graphpipe,
    #: predict (the app's /predict), page.
    protocol: str
    #: The route or RPC it came in on, as declared (e.g. ``/v1/models/<name>:predict``, ``Predict``).
    route: str
    request_id: str = field(default_factory=new_request_id)
    #: Set by the service as it answers, for the logs and metrics: TF Serving's API name (Predict,
    #: Classify), the version that answered, and the images the inputs held.
    api: str = "Predict"
    served_version: int | None = None
    images: int = 0

    @property
    def deadline(self) -> Deadline | None:
        return self.budget.deadline
