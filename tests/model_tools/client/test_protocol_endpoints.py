"""eval-serving and throughput over GraphPipe and the Open Inference Protocol (REST and gRPC): the
article's whole comparison in one command, every protocol answering the served model's own classes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures

import grpc
import numpy as np
import pytest
from graphpipe import convert

from model_tools.__main__ import main as cli
from model_tools.client.eval_serving import evaluate_endpoint, summarize
from model_tools.client.serving_client import (
    EndpointError,
    encode_request,
    error_message,
    parse_endpoint,
    predicted_classes,
)
from model_tools.client.throughput import measure


@pytest.fixture(scope="module")
def grpc_url(repo, served_model) -> Iterator[str]:
    """``grpc://127.0.0.1:PORT/v2/models/<model>``: the V2 gRPC service on a serving core of its own."""
    from serving_core.server_core import ServerCore
    from webapp.grpc import v2_servicer
    from webapp.settings import load_settings

    settings, _ = load_settings({"MODEL_BASE_PATH": str(repo / "models"), "MODEL_NAME": served_model,
                                 "ENGINE": "onnxruntime", "FILE_SYSTEM_POLL_SECONDS": 0,
                                 "MODEL_RELOAD_ON_SIGHUP": False}, environ={})
    core = ServerCore(settings.core_options())
    core.start()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    v2_servicer.add_to_server(server, core.service, settings.server_limits())
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"grpc://127.0.0.1:{port}/v2/models/{served_model}"
    server.stop(None)
    core.stop()


@pytest.fixture(scope="module")
def urls(base_url, served_model, grpc_url, served_version_dir) -> dict[str, str]:
    return {"tfserving": f"{base_url}/v1/models/{served_model}:predict",
            "graphpipe": f"{base_url}/graphpipe/{served_model}",
            "v2": f"{base_url}/v2/models/{served_model}",
            "v2-versioned": f"{base_url}/v2/models/{served_model}/versions/{served_version_dir.name}",
            "v2-grpc": grpc_url}


def test_endpoints_name_their_protocol(urls):
    assert parse_endpoint(f"g={urls['graphpipe']}").format == "graphpipe"
    assert parse_endpoint(f"v={urls['v2']}").format == "v2"
    assert parse_endpoint(f"r={urls['v2-grpc']}").format == "v2"
    assert parse_endpoint("port=http://127.0.0.1:9000/", "graphpipe").format == "graphpipe"
    with pytest.raises(ValueError, match="grpc://host:port/v2/models/<model>"):
        parse_endpoint("x=grpc://127.0.0.1:8500/emnist:predict")


@pytest.mark.parametrize(("payload", "dtype"),
                         [("json", np.float64), ("npy", np.float32), ("b64", np.uint8)])
def test_graphpipe_requests_carry_the_payloads_type(validation_split, payload, dtype):
    images = validation_split[0][:3]
    request = encode_request(parse_endpoint("g=http://h:1/graphpipe/m"), images, payload)
    (tensor,) = convert.deserialize_request(request.body).input_tensors
    assert tensor.dtype == dtype and tensor.shape == (3, 784)
    expected = images.reshape(3, -1) if dtype == np.uint8 else images.reshape(3, -1) / 255.0
    np.testing.assert_allclose(tensor, expected, atol=1e-6)


@pytest.mark.parametrize("name", ["tfserving", "graphpipe", "v2", "v2-versioned", "v2-grpc"])
def test_every_protocol_answers_the_served_models_classes(urls, name, expected_classes, validation_split):
    images, labels = validation_split[0][:10], validation_split[1][:10]
    endpoint = parse_endpoint(f"{name}={urls[name]}")
    records = evaluate_endpoint(endpoint, np.arange(10), images, labels, progress=False)
    assert all(r.error is None and r.status == 200 for r in records), records[0].error
    assert [r.predicted for r in records] == expected_classes(images).tolist()
    assert summarize(endpoint, records)["latency_ms"]["p50"] > 0


@pytest.mark.parametrize("name", ["graphpipe", "v2", "v2-grpc"])
@pytest.mark.parametrize("payload", ["json", "npy", "b64"])
def test_throughput_cells_over_every_protocol(urls, name, payload, validation_split, expected_classes):
    endpoint = parse_endpoint(f"{name}={urls[name]}")
    request = encode_request(endpoint, validation_split[0][:8], payload)
    cell = measure(endpoint, request.body, request.content_type, 8, 2, 0.3, warmup=0,
                   headers=request.headers)
    assert cell["errors"] == 0 and cell["requests"] > 0, cell["error_kinds"]


def test_refusals_are_reported_with_the_servers_message(base_url, grpc_url, validation_split):
    images = validation_split[0][:1]
    for url, expected in [
        (f"{base_url}/graphpipe/nope", "HTTP 404: Servable not found for request: Latest(nope)"),
        (f"{base_url}/v2/models/nope", "HTTP 404: Servable not found"),
        (grpc_url.replace("/emnist", "/nope"), "HTTP 404: gRPC NOT_FOUND: Servable not found"),
    ]:
        endpoint = parse_endpoint(f"x={url}")
        (record,) = evaluate_endpoint(endpoint, np.arange(1), images, np.zeros(1, int), progress=False)
        assert record.status == 404 and record.error.startswith(expected), record.error


def test_graphpipe_answers_are_checked():
    # The server's writer makes the answers (graphpipe 1.0.4's own writer fails on current flatbuffers).
    from webapp.http.graphpipe_wire import write_infer_response

    answer = write_infer_response([np.eye(62, dtype=np.float32)[[7]]])
    assert predicted_classes(answer, "graphpipe", 1).tolist() == [7]
    with pytest.raises(EndpointError, match=r"expected \[3, classes\]"):
        predicted_classes(answer, "graphpipe", 3)
    refusal = write_infer_response([], [(3, "bad tensor")])
    with pytest.raises(EndpointError, match="GraphPipe error: bad tensor"):
        predicted_classes(refusal, "graphpipe", 1)
    assert error_message(400, refusal) == "HTTP 400: bad tensor"


def test_the_articles_comparison_in_one_command(urls, tmp_path):
    out = tmp_path / "compare"
    endpoints = [arg for name, url in urls.items() if name != "v2-versioned"
                 for arg in ("--endpoint", f"{name}={url}")]
    assert cli(["eval-serving", *endpoints, "-n", "8", "--out", str(out / "eval"), "--no-progress"]) == 0
    assert cli(["throughput", *endpoints, "--batch-sizes", "1,16", "--duration", "0.3", "--warmup", "0",
                "--payload", "npy", "--out", str(out / "tp"), "--no-progress"]) == 0
    summaries = json.loads((out / "eval" / "eval_serving.json").read_text())["summaries"]
    assert [s["errors"] for s in summaries] == [0, 0, 0, 0]
    assert len({s["accuracy"] for s in summaries}) == 1  # the same model answers every protocol
    cells = json.loads((out / "tp" / "throughput.json").read_text())["cells"]
    assert len(cells) == 8 and all(c["errors"] == 0 and c["requests"] > 0 for c in cells)
    for figure in ("eval/eval_latency_box.png", "eval/eval_latency_quantiles.png", "tp/throughput_bars.png"):
        assert (out / figure).stat().st_size > 0
