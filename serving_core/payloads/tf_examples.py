"""``tf.Example`` -> images: what an example means, the same wherever one arrives.

An example's feature ``images`` holds one image: a ``float_list`` of 784 pixels (pixels/255, row by
row) or a ``bytes_list`` holding one image file (PNG, JPEG...). REST ``:classify`` (its JSON examples),
gRPC Classify, the warmup records and Predict on the ``classify`` signature (serialized examples) all read
examples through ``feature_image``, so an example is accepted or refused with the same words on every
route. Messages are read by their fields alone (``tf_serving_protos``' ``example_pb2.Example`` or
TensorFlow's own); serialized examples are parsed with ``tf_serving_protos``' (no TensorFlow import).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emnist_contract.signatures import EXAMPLE_FEATURE
from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import InvalidArgumentError
from serving_core.payloads.binary import bytes_to_images, finite
from serving_core.payloads.limits import RequestBudget
from tf_serving_protos.tensorflow.core.example import example_pb2

#: The ``Feature.kind`` oneof's members.
FLOAT_LIST, BYTES_LIST = "float_list", "bytes_list"


def feature_image(kind: str | None, values: Sequence[Any], where: str, budget: RequestBudget) -> np.ndarray:
    """An example's ``images`` feature (its kind and values) -> float32 [1,784]."""
    if kind == FLOAT_LIST:
        if len(values) != NUM_PIXELS:
            raise InvalidArgumentError(
                f"{where}: feature '{EXAMPLE_FEATURE}' holds {len(values)} floats, expected {NUM_PIXELS}")
        with np.errstate(over="ignore"):
            return finite(np.asarray(values, dtype=np.float32).reshape(1, NUM_PIXELS))
    if kind == BYTES_LIST and len(values) == 1:  # an image file, or raw pixels (784 uint8 or float32)
        images = finite(bytes_to_images(values[0], where, False, budget))
        if len(images) != 1:  # a .npy batch
            raise InvalidArgumentError(
                f"{where}: feature '{EXAMPLE_FEATURE}' holds {len(images)} images: an example holds one")
        return images
    raise InvalidArgumentError(
        f"{where}: feature '{EXAMPLE_FEATURE}' must be a float_list of {NUM_PIXELS} pixels (0-1) or a "
        "bytes_list holding one image file"
    )


def example_image(example: Any, where: str, budget: RequestBudget) -> np.ndarray:
    """A ``tf.Example`` message -> float32 [1,784] (see the module doc)."""
    features = example.features.feature
    if EXAMPLE_FEATURE not in features:
        raise InvalidArgumentError(f"{where}: missing feature '{EXAMPLE_FEATURE}' ({NUM_PIXELS} floats)")
    feature = features[EXAMPLE_FEATURE]
    kind = feature.WhichOneof("kind")
    return feature_image(kind, getattr(feature, kind).value if kind else (), where, budget)


def pixels_example(pixels: np.ndarray) -> bytes:
    """One serialized example holding ``pixels`` (784 floats) as its float feature ``images``."""
    example = example_pb2.Example()
    example.features.feature[EXAMPLE_FEATURE].float_list.value.extend(pixels.reshape(-1).tolist())
    return example.SerializeToString()


def serialized_examples(values: np.ndarray, budget: RequestBudget) -> np.ndarray:
    """Serialized examples (an object array of bytes [N]) checked before a signature parses them.

    Each must be a ``tf.Example`` whose ``images`` feature ``feature_image`` reads; one holding an image
    file is replaced by the example of its decoded pixels, which is what the ``classify`` signature's
    graph parses (a float feature of 784 values). Refusals speak the project's words, not the graph's,
    and name the example as Classify does (``example 3: ...``).
    """
    from google.protobuf.message import DecodeError

    budget.check_count(len(values))
    checked = np.empty(len(values), dtype=object)
    example = example_pb2.Example()
    for index, value in enumerate(values):
        here = f"example {index}"
        try:
            example.ParseFromString(value)
        except (DecodeError, TypeError, ValueError):
            raise InvalidArgumentError(f"{here}: not a serialized tf.Example") from None
        image = example_image(example, here, budget)
        feature = example.features.feature[EXAMPLE_FEATURE]
        checked[index] = value if feature.WhichOneof("kind") == FLOAT_LIST else pixels_example(image)
    return checked
