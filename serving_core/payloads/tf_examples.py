"""``tf.Example`` -> images: what an example means, the same wherever one arrives.

An example's feature ``images`` holds one image: a ``float_list`` of 784 pixels (pixels/255, row by
row) or a ``bytes_list`` holding one image file (PNG, JPEG...). REST ``:classify`` (its JSON examples),
gRPC Classify, the warmup records and Predict on the ``classify`` signature (serialized examples) all read
examples through ``feature_image``, so an example is accepted or refused with the same words on every
route. Messages are duck-typed (the generated ``example_pb2.Example`` or a subset of it); serialized
examples are parsed with ``Example`` here, the same message definitions built in a private descriptor
pool, so that the serving core imports no generated module and never TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from emnist_contract.signatures import EXAMPLE_FEATURE
from emnist_contract.tensors import NUM_PIXELS
from serving_core.errors import InvalidArgumentError
from serving_core.payloads.binary import bytes_to_images, finite
from serving_core.payloads.limits import RequestBudget

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


@cache
def example_class() -> type:
    """``tensorflow.Example`` (example.proto and feature.proto, same names and numbers), privately built."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="serving_core/tf_example_subset.proto", package="tensorflow", syntax="proto3")
    for name, kind in (("BytesList", fdp.TYPE_BYTES), ("FloatList", fdp.TYPE_FLOAT),
                       ("Int64List", fdp.TYPE_INT64)):
        values = file.message_type.add(name=name)
        values.field.add(name="value", number=1, type=kind, label=fdp.LABEL_REPEATED)
    feature = file.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (name, type_name) in enumerate(
            (("bytes_list", "BytesList"), ("float_list", "FloatList"), ("int64_list", "Int64List")), start=1):
        feature.field.add(name=name, number=number, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_OPTIONAL,
                          type_name=".tensorflow." + type_name, oneof_index=0)
    features = file.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=fdp.TYPE_STRING, label=fdp.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_OPTIONAL,
                    type_name=".tensorflow.Feature")
    features.field.add(name="feature", number=1, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_REPEATED,
                       type_name=".tensorflow.Features.FeatureEntry")
    example = file.message_type.add(name="Example")
    example.field.add(name="features", number=1, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_OPTIONAL,
                      type_name=".tensorflow.Features")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.Example"))


def pixels_example(pixels: np.ndarray) -> bytes:
    """One serialized example holding ``pixels`` (784 floats) as its float feature ``images``."""
    example = example_class()()
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
    example = example_class()()
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
