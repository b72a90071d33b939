"""``pip install '.[serve]'`` in a fresh venv: no TensorFlow, and the installed server answers TF Serving's
stock client (tensorflow-serving-api's stubs and ``tf.make_tensor_proto``, in this process) over gRPC, and
REST, with the onnxruntime engine that ``EMNIST_ENGINE=auto`` picks there.

The install copies the package sources to a temporary folder first (an in-tree build would leave ``build/``
in the checkout) and takes about a minute with pip's cache.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.support.grpc_servers import ModelServerProcess, free_port
from tests.support.paths import MODELS, REPO, SERVED_MODEL
from tests.support.photos import pen_photo

pytestmark = pytest.mark.slow

#: What a source distribution of the project holds: pyproject.toml's packages and the files it names.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "emnist_contract", "serving_core", "webapp",
           "model_tools", "tf_serving_protos")


@pytest.fixture(scope="module")
def serve_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a fresh venv with the serve extra installed (not editable) at requirements.txt's pins."""
    root = tmp_path_factory.mktemp("serve-install")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
    python = root / "venv" / "bin" / "python"
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(REPO / "requirements.txt"), f"{source}[serve]"],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return python


def test_the_serve_extra_installs_no_tensorflow(serve_python):
    code = ("import importlib.metadata as m, json\n"
            "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))")
    listed = subprocess.run([str(serve_python), "-c", code], capture_output=True, text=True, check=True,
                            timeout=60, cwd=serve_python.parent)
    names = {name.lower().replace("_", "-") for name in json.loads(listed.stdout)}
    assert not names & {"tensorflow", "tensorflow-serving-api", "tensorflow-cpu", "keras", "torch", "scipy",
                        "scikit-image"}
    assert {"emnist-serving", "onnxruntime", "grpcio", "protobuf", "gunicorn"} <= names


def wait_for_rest(url: str, server: ModelServerProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"REST did not answer within {timeout} s:\n{server.log()}")


def test_the_installed_server_answers_the_stock_client(serve_python, tmp_path, monkeypatch,
                                                        validation_images):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    monkeypatch.delenv("PYTHONPATH", raising=False)  # the venv's own installed packages, not this checkout
    rest_port, grpc_port = free_port(), free_port()
    with ModelServerProcess(tmp_path / "server.log", grpc_port, rest_port, python=str(serve_python),
                            cwd=tmp_path, ENGINE="auto", MODEL_BASE_PATH=str(MODELS)) as server:
        server.wait_serving()
        images, labels = validation_images
        batch = images[:32].reshape(32, 784).astype(np.float32) / 255.0
        request = predict_pb2.PredictRequest()
        request.model_spec.name = SERVED_MODEL
        request.inputs["images"].CopyFrom(tf.make_tensor_proto(batch, shape=batch.shape))
        with grpc.insecure_channel(server.target) as channel:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, 30.0)
        scores = tf.make_ndarray(response.outputs["scores"])
        assert scores.shape == (32, 62)
        assert (scores.argmax(axis=1) == labels[:32]).mean() > 0.5  # 62 classes: chance is 1.6 %

        base = f"http://127.0.0.1:{rest_port}/v1/models/{SERVED_MODEL}"
        wait_for_rest(base, server)
        body = json.dumps({"instances": batch[:2].tolist()}).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{base}:predict", body), timeout=30) as answer:
            predictions = json.loads(answer.read())["predictions"]
        np.testing.assert_allclose(predictions, scores[:2], atol=1e-5)
        # An uploaded photo: the whole preprocessing runs, on numpy and Pillow alone.
        photo = base64.b64encode(pen_photo(images[0], seed=1)).decode()
        body = json.dumps({"instances": [{"b64": photo}]}).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{base}:predict", body), timeout=30) as answer:
            assert len(json.loads(answer.read())["predictions"][0]) == 62
        assert "(engine onnxruntime)" in server.log()
        assert server.terminate() == 0
