"""eval-serving and throughput over TF Serving's gRPC API (``grpc://host:port/<model>``), and the blog's
comparison in one command: our REST, our gRPC, and the front end in front of two model servers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2

from model_tools.__main__ import main as cli
from model_tools.client.eval_serving import evaluate_endpoint
from model_tools.client.serving_client import encode_request, parse_endpoint
from model_tools.client.throughput import measure
from tests.support.servers import served


@pytest.fixture(scope="module")
def grpc_servers(repo, served_model) -> Iterator[list[str]]:
    """Two gRPC model servers (serving cores of their own) on the bundled model: their host:port."""
    from serving_core.server_core import ServerCore
    from webapp.grpc.server import start_grpc_server
    from webapp.settings import load_settings

    settings, _ = load_settings({"MODEL_BASE_PATH": str(repo / "models"), "MODEL_NAME": served_model,
                                 "ENGINE": "onnxruntime", "FILE_SYSTEM_POLL_SECONDS": 0,
                                 "MODEL_RELOAD_ON_SIGHUP": False}, environ={})
    running = []
    for _ in range(2):
        core = ServerCore(settings.core_options()).start()
        running.append((core, start_grpc_server(settings, core, "127.0.0.1:0")))
    yield [f"127.0.0.1:{server.port}" for _, server in running]
    for core, server in running:
        server.stop(0)
        core.stop()


@pytest.fixture(scope="module")
def grpc_url(grpc_servers, served_model) -> str:
    return f"grpc://{grpc_servers[0]}/{served_model}"


def test_grpc_urls_are_tf_servings_api(grpc_url):
    assert parse_endpoint(f"g={grpc_url}").format == "tfserving"
    assert parse_endpoint("g=grpc://127.0.0.1:8500/emnist/versions/2").format == "tfserving"
    assert parse_endpoint("g=grpc://127.0.0.1:8500/emnist/labels/stable").format == "tfserving"
    assert parse_endpoint("v=grpc://127.0.0.1:8500/v2/models/emnist").format == "v2"
    for bad in ("grpc://127.0.0.1:8500/", "grpc://127.0.0.1:8500/emnist/versions/x"):
        with pytest.raises(ValueError, match=r"grpc://host:port/<model>"):
            parse_endpoint(f"x={bad}")


@pytest.mark.parametrize(("payload", "dtype", "field"), [
    ("json", 1, "float_val"), ("npy", 1, "tensor_content"), ("b64", 4, "tensor_content"),
])
def test_requests_carry_the_payloads_encoding(validation_split, payload, dtype, field):
    images = validation_split[0][:3]
    request = encode_request(parse_endpoint("g=grpc://h:1/emnist/versions/1"), images, payload)
    message = predict_pb2.PredictRequest.FromString(request.body)
    assert (message.model_spec.name, message.model_spec.version.value) == ("emnist", 1)
    tensor = message.inputs["images"]
    assert tensor.dtype == dtype and [d.size for d in tensor.tensor_shape.dim] == [3, 784]
    if field == "float_val":
        sent = np.asarray(tensor.float_val, np.float32)
    else:
        sent = np.frombuffer(tensor.tensor_content, "<f4" if dtype == 1 else "u1")
    expected = images.reshape(-1) if dtype == 4 else images.reshape(-1) / 255.0
    np.testing.assert_allclose(sent, expected, atol=1e-6)


def test_eval_serving_over_grpc_answers_the_served_models_classes(grpc_url, validation_split,
                                                                   expected_classes):
    images, labels = validation_split[0][:12], validation_split[1][:12]
    records = evaluate_endpoint(parse_endpoint(f"g={grpc_url}"), np.arange(12), images, labels,
                                progress=False)
    assert all(r.error is None and r.status == 200 for r in records), records[0].error
    assert [r.predicted for r in records] == expected_classes(images).tolist()


@pytest.mark.parametrize("payload", ["json", "npy", "b64"])
def test_throughput_over_grpc(grpc_url, validation_split, payload):
    endpoint = parse_endpoint(f"g={grpc_url}")
    request = encode_request(endpoint, validation_split[0][:16], payload)
    cell = measure(endpoint, request.body, request.content_type, 16, 2, 0.3, warmup=0)
    assert cell["errors"] == 0 and cell["requests"] > 0, cell["error_kinds"]


def test_refusals_are_reported_with_the_servers_message(grpc_url, validation_split):
    endpoint = parse_endpoint(f"x={grpc_url.replace('/emnist', '/nope')}")
    (record,) = evaluate_endpoint(endpoint, np.arange(1), validation_split[0][:1], np.zeros(1, int),
                                  progress=False)
    assert record.status == 404
    assert record.error.startswith("HTTP 404: gRPC NOT_FOUND: Servable not found for request: Latest(nope)")


@pytest.fixture(scope="module")
def front_end_url(grpc_servers, served_model) -> Iterator[str]:
    """The app as a front end to the two gRPC model servers, over real HTTP."""
    from webapp import create_app

    app = create_app({"TESTING": True, "MODEL_NAME": served_model,
                      "MODEL_SERVER": ",".join(f"grpc://{target}" for target in grpc_servers)})
    with served(app) as url:
        yield f"{url}/v1/models/{served_model}:predict"
    app.extensions["inference_service"].close()


def test_the_blogs_comparison_in_one_command(predict_url, grpc_url, front_end_url, tmp_path):
    endpoints = ["--endpoint", f"rest={predict_url}", "--endpoint", f"grpc={grpc_url}",
                 "--endpoint", f"front-end={front_end_url}"]
    out = tmp_path / "compare"
    assert cli(["eval-serving", *endpoints, "-n", "8", "--out", str(out / "eval"), "--no-progress"]) == 0
    assert cli(["throughput", *endpoints, "--batch-sizes", "1,16", "--duration", "0.3", "--warmup", "0",
                "--payload", "npy", "--out", str(out / "tp"), "--no-progress"]) == 0
    summaries = json.loads((out / "eval" / "eval_serving.json").read_text())["summaries"]
    assert [s["errors"] for s in summaries] == [0, 0, 0]
    assert len({s["accuracy"] for s in summaries}) == 1  # the same model answers every way
    cells = json.loads((out / "tp" / "throughput.json").read_text())["cells"]
    assert len(cells) == 6 and all(c["errors"] == 0 and c["requests"] > 0 for c in cells)
