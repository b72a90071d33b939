"""The stock protos of the ``tensorflow-serving-api`` package, imported without TensorFlow's ``__init__``.

Why: ``predict_pb2`` and its siblings import ``tensorflow.core.framework.tensor_pb2`` and friends, plain
generated protobuf modules that happen to live inside the ``tensorflow`` package, so a plain import runs
``tensorflow/__init__.py`` and loads all of TensorFlow (about 1.8 s and 560 MB more per process), which
would defeat the onnxruntime engine's small footprint in every gRPC worker and in a front end that only
forwards requests. The generated modules need only their package's folder, so while they are imported a
bare package stands in for ``tensorflow`` (same folder, no ``__init__`` code run), and afterwards every
``tensorflow*`` module is taken out of ``sys.modules`` again: a later ``import tensorflow`` (the
tensorflow engine, a test) starts from scratch and finds the very same message classes in protobuf's
default pool. When TensorFlow is already imported, the modules are imported as usual.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from types import ModuleType


def import_without_tensorflow_init(*names: str) -> list[ModuleType]:
    """Import ``names`` (generated ``_pb2``/``_pb2_grpc`` modules) without running TensorFlow's init."""
    if "tensorflow" in sys.modules:
        return [importlib.import_module(name) for name in names]
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the tensorflow package (which holds TF Serving's tensor protos) is not installed")
    stand_in = types.ModuleType("tensorflow")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["tensorflow"] = stand_in
    try:
        return [importlib.import_module(name) for name in names]
    finally:
        if sys.modules.get("tensorflow") is stand_in:
            for name in [n for n in sys.modules if n == "tensorflow" or n.startswith("tensorflow.")]:
                del sys.modules[name]


(
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    example_pb2,
    meta_graph_pb2,
    tensor_pb2,
    types_pb2,
    error_codes_pb2,
    model_server_config_pb2,
) = import_without_tensorflow_init(
    "tensorflow_serving.apis.classification_pb2",
    "tensorflow_serving.apis.get_model_metadata_pb2",
    "tensorflow_serving.apis.get_model_status_pb2",
    "tensorflow_serving.apis.model_management_pb2",
    "tensorflow_serving.apis.model_service_pb2_grpc",
    "tensorflow_serving.apis.predict_pb2",
    "tensorflow_serving.apis.prediction_service_pb2_grpc",
    "tensorflow.core.example.example_pb2",
    "tensorflow.core.protobuf.meta_graph_pb2",
    "tensorflow.core.framework.tensor_pb2",
    "tensorflow.core.framework.types_pb2",
    "tensorflow.core.protobuf.error_codes_pb2",
    "tensorflow_serving.config.model_server_config_pb2",
)

#: The services' full names, as gRPC and the health service know them.
PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"
