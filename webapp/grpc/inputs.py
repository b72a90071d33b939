"""gRPC request messages -> what the inference service takes: the model spec, tensors, examples.

``PredictInputs`` hands the service a ``PredictRequest``'s one input tensor once the version (and so the
signature) is pinned, with TF Serving's refusals for a wrong set of inputs; serialized examples for the
``classify`` signature are checked first (``serving_core.payloads.tf_examples``). ``examples_to_images``
reads a ``ClassificationRequest``'s ``tf.Example`` list (with its context, merged as TF Serving merges it:
the context's serialized bytes before each example's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serving_core.errors import InvalidArgumentError
from serving_core.observation import note_model
from serving_core.payloads.limits import RequestBudget
from serving_core.payloads.tensor_protos import tensor_to_array
from serving_core.payloads.tf_examples import example_image, serialized_examples
from serving_core.payloads.typed_tensors import pixels_to_images
from serving_core.request import ModelSpec, SignatureInput
from tf_serving_protos.tensorflow.core.example import example_pb2


def model_spec(request: Any) -> ModelSpec:
    """The request's ``model_spec`` (name, version or version_label, signature_name) for the service."""
    if not request.HasField("model_spec"):
        raise InvalidArgumentError("Missing ModelSpec")
    proto = request.model_spec
    version = proto.version.value if proto.HasField("version") else None
    note_model(proto.name, version)  # the access line's model, for the RPCs that make no core request
    return ModelSpec(proto.name, version, proto.version_label or None, proto.signature_name)


def _names(keys: Any) -> str:
    return ",".join(sorted(keys))


class PredictInputs:
    """A ``PredictRequest``'s input tensor, decoded for the signature the service pinned."""

    def __init__(self, request: Any) -> None:
        self.request = request

    def signature_name(self) -> str:
        return ""  # the spec carries model_spec.signature_name

    def tensor(self, signature_input: SignatureInput, budget: RequestBudget) -> np.ndarray:
        inputs = self.request.inputs
        expected = {signature_input.name}
        if len(inputs) != len(expected):
            raise InvalidArgumentError(
                f"input size does not match signature: {len(inputs)}!=1 len({{{_names(inputs)}}}) != "
                f"len({{{signature_input.name}}}). Sent extra: {{{_names(set(inputs) - expected)}}}. "
                f"Missing but required: {{{_names(expected - set(inputs))}}}."
            )
        if signature_input.name not in inputs:
            (sent,) = inputs
            raise InvalidArgumentError(
                f"input tensor alias not found in signature: {sent}. Inputs expected to be in the set "
                f"{{{signature_input.name}}}."
            )
        where = f"input {signature_input.name}"
        array = tensor_to_array(inputs[signature_input.name], budget, where)
        if signature_input.dtype == "DT_STRING":
            if array.dtype != object or array.ndim != 1:
                raise InvalidArgumentError(
                    f"{where}: expected a DT_STRING tensor of shape [N] (serialized tf.Example), got "
                    f"{array.dtype} {list(array.shape)}"
                )
            return serialized_examples(array, budget)
        return pixels_to_images(array, where, budget)


def examples_to_images(model_input: Any, budget: RequestBudget) -> np.ndarray:
    """A ``tensorflow.serving.Input`` (example_list or example_list_with_context) -> finite [N,784].

    Counted before anything is merged or decoded; each example is merged with the context only when read.
    """
    kind = model_input.WhichOneof("kind")
    listed = getattr(model_input, kind) if kind else None
    if listed is None or not listed.examples:
        raise InvalidArgumentError("Input is empty.")
    budget.check_count(len(listed.examples))
    context = listed.context.SerializeToString() if kind == "example_list_with_context" else b""
    images = []
    for index, example in enumerate(listed.examples):
        if context:
            example = example_pb2.Example.FromString(context + example.SerializeToString())
        images.append(example_image(example, f"example {index}", budget))
    return np.concatenate(images)


class ExampleInputs:
    """A ``ClassificationRequest``'s examples, decoded once the service has pinned a version."""

    def __init__(self, model_input: Any) -> None:
        self.model_input = model_input

    def signature_name(self) -> str:
        return ""  # the spec carries model_spec.signature_name

    def tensor(self, signature_input: SignatureInput, budget: RequestBudget) -> np.ndarray:
        return examples_to_images(self.model_input, budget)
