"""The core's requests for tests that call the inference service directly."""

from __future__ import annotations

from typing import Any

from serving_core.payloads.limits import ServerLimits
from serving_core.request import InferenceRequest, Inputs, ModelSpec


def inference_request(spec: ModelSpec, inputs: Inputs, **limits: Any) -> InferenceRequest:
    """A request of ``inputs`` for ``spec`` with the server's default limits (``limits`` override them)."""
    server = ServerLimits(**{"max_instances": 1024, "max_image_pixels": 40_000_000, **limits})
    return InferenceRequest(spec, inputs, server.budget(), protocol="test", route="test")
