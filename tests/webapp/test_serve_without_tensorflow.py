"""The ``serve`` extra has no TensorFlow: the server must start, warm up and answer REST and gRPC without it.

Run in a process of its own, either with TensorFlow hidden (``None`` in ``sys.modules``: an install without
it, where ``EMNIST_ENGINE=auto`` picks onnxruntime) or with TensorFlow installed but the onnxruntime engine
asked for, where nothing may load it either (its 560 MB in every worker).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import MODELS, REPO, SERVED_MODEL

SERVE = """
import sys
HIDE_TENSORFLOW = {hide}
if HIDE_TENSORFLOW:
    sys.modules["tensorflow"] = sys.modules["tensorflow_serving"] = None
import grpc
import numpy as np
from serving_core.lifecycle.model_config import parse_model_config_text
from serving_core.server_core import ServerCore
from tf_serving_protos.tensorflow.core.framework import types_pb2
from tf_serving_protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from webapp import create_app
from webapp.grpc.server import start_grpc_server
from webapp.remote import service as remote_service
from webapp.settings import load_settings
import webapp.model_server, webapp.grpc.workers

overrides = {{"MODEL_BASE_PATH": {models!r}, "MODEL_NAME": {model!r}, "FILE_SYSTEM_POLL_SECONDS": 0,
             "MODEL_RELOAD_ON_SIGHUP": False}}
if not HIDE_TENSORFLOW:
    overrides["ENGINE"] = "onnxruntime"
settings, _ = load_settings(overrides, environ={{}})
assert settings["ENGINE"] == "onnxruntime", settings["ENGINE"]
parse_model_config_text('model_config_list {{ config {{ name: "a" base_path: "/models/a" }} }}')

images = np.zeros((2, 784), np.float32)
client = create_app(overrides).test_client()
answer = client.post("/v1/models/{model}:predict", json={{"instances": images.tolist()}})
assert answer.status_code == 200, answer.get_data(as_text=True)
assert len(answer.get_json()["predictions"]) == 2

core = ServerCore(settings.core_options()).start()
server = start_grpc_server(settings, core, "127.0.0.1:0")
try:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = {model!r}
    request.inputs["images"].dtype = types_pb2.DT_FLOAT
    for size in images.shape:
        request.inputs["images"].tensor_shape.dim.add(size=size)
    request.inputs["images"].tensor_content = images.tobytes()
    with grpc.insecure_channel(f"127.0.0.1:{{server.port}}") as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert [dim.size for dim in response.outputs["scores"].tensor_shape.dim] == [2, 62]
finally:
    server.stop(0)
    core.stop()
print(sorted(name for name, module in sys.modules.items()
             if name.split(".")[0] in ("tensorflow", "tensorflow_serving") and module is not None))
"""


@pytest.mark.parametrize("hide", [True, False], ids=["tensorflow-not-installed", "onnxruntime-engine-asked"])
def test_the_server_serves_rest_and_grpc_without_loading_tensorflow(hide):
    code = SERVE.format(hide=hide, models=str(MODELS), model=SERVED_MODEL)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
