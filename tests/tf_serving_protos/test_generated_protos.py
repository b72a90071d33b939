"""tf_serving_protos against the stock tensorflow-serving-api and tensorflow packages it was generated from.

The stock clients interoperate only if every message has the stock full names and fields, and TensorFlow
loads beside this package (the serve-tf setup) only if every file registers the very bytes TensorFlow
registers under the same name: protobuf's default pool takes a second add of a file only when identical.
Each side is read in a process of its own, so the two pools never mix in the comparison.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.paths import REPO

#: Every generated module's file name -> its serialized FileDescriptorProto (hex), as registered.
OURS = """
import json, sys
from importlib import import_module
from pathlib import Path
root = Path("tf_serving_protos")
names = sorted(".".join(path.with_suffix("").parts) for path in root.rglob("*_pb2.py"))
files = {}
for name in names:
    module = import_module(name)
    files[module.DESCRIPTOR.name] = module.DESCRIPTOR.serialized_pb.hex()
assert not any(name.split(".")[0] in ("tensorflow", "tensorflow_serving") for name in sys.modules)
print(json.dumps(files))
"""

#: The same for tensorflow-serving-api's apis and config, TensorFlow's saved_model.proto (which the server
#: reads saved_model.pb with) and every file they import, with TensorFlow loaded.
STOCK = """
import json, pkgutil
from importlib import import_module
import tensorflow
import tensorflow_serving.apis, tensorflow_serving.config
from tensorflow.core.protobuf import saved_model_pb2
for package in (tensorflow_serving.apis, tensorflow_serving.config):
    for module in pkgutil.iter_modules(package.__path__):
        import_module(package.__name__ + "." + module.name)
files = {}
def walk(descriptor):
    if descriptor.name not in files:
        files[descriptor.name] = descriptor.serialized_pb.hex()
        for dependency in descriptor.dependencies:
            walk(dependency)
for package in (tensorflow_serving.apis, tensorflow_serving.config):
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.endswith("_pb2"):
            walk(import_module(package.__name__ + "." + module.name).DESCRIPTOR)
walk(saved_model_pb2.DESCRIPTOR)
print(json.dumps({name: data for name, data in files.items() if not name.startswith("google/protobuf/")}))
"""


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def stock_files() -> dict[str, str]:
    return json.loads(run_python(STOCK))


def test_every_file_registers_the_stock_descriptor_byte_for_byte(stock_files):
    ours = json.loads(run_python(OURS))
    assert sorted(ours) == sorted(stock_files)
    assert {"tensorflow_serving/apis/predict.proto", "tensorflow/core/framework/tensor.proto",
            "tensorflow/core/protobuf/saved_model.proto", "xla/tsl/protobuf/error_codes.proto"} <= set(ours)
    assert [name for name in ours if ours[name] != stock_files[name]] == []


INTEROP = """
import numpy as np
{first}
{second}
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2 as stock_predict, prediction_log_pb2 as stock_log
from tf_serving_protos.tensorflow_serving.apis import predict_pb2, prediction_log_pb2
from tf_serving_protos.tensorflow.core.framework import tensor_pb2
assert predict_pb2.PredictRequest is stock_predict.PredictRequest
assert tensor_pb2.TensorProto is type(tf.make_tensor_proto(1.0))
images = np.arange(2 * 784, dtype=np.float32).reshape(2, 784)
request = stock_predict.PredictRequest()
request.model_spec.name = "emnist"
request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
ours = predict_pb2.PredictRequest.FromString(request.SerializeToString())
assert (tf.make_ndarray(ours.inputs["images"]) == images).all()
log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=ours))
assert stock_log.PredictionLog.FromString(log.SerializeToString()) == log
print("ok")
"""


#: Every module of a side: all of tf_serving_protos; TensorFlow and all of tensorflow-serving-api.
ALL_OURS = """
from importlib import import_module
from pathlib import Path
for path in sorted(Path("tf_serving_protos").rglob("*_pb2*.py")):
    import_module(".".join(path.with_suffix("").parts))
"""
ALL_STOCK = """
import pkgutil
from importlib import import_module
import tensorflow
import tensorflow_serving.apis, tensorflow_serving.config
for package in (tensorflow_serving.apis, tensorflow_serving.config):
    for module in pkgutil.iter_modules(package.__path__):
        import_module(package.__name__ + "." + module.name)
"""


@pytest.mark.parametrize("ours_first", [True, False], ids=["ours-then-tensorflow", "tensorflow-then-ours"])
def test_tensorflow_and_the_stock_package_load_beside_it_in_either_order(ours_first):
    """Every file of either side added to the default pool before the other's: no conflict, shared classes."""
    ours, stock = ALL_OURS, ALL_STOCK
    first, second = (ours, stock) if ours_first else (stock, ours)
    assert run_python(INTEROP.format(first=first, second=second)) == "ok"


def test_the_stock_service_names_and_methods():
    from tf_serving_protos.tensorflow_serving.apis import model_service_pb2, prediction_service_pb2

    prediction = prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"]
    assert prediction.full_name == "tensorflow.serving.PredictionService"
    assert [method.name for method in prediction.methods] == [
        "Classify", "Regress", "Predict", "MultiInference", "GetModelMetadata"]
    model = model_service_pb2.DESCRIPTOR.services_by_name["ModelService"]
    assert [method.name for method in model.methods] == ["GetModelStatus", "HandleReloadConfigRequest"]
