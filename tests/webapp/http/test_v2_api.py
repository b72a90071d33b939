"""The Open Inference Protocol's REST API: tritonclient's HTTP client works unchanged (JSON and binary
tensors), and every route and refusal answers as the protocol says."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.http as httpclient
from flask import Flask
from tritonclient.utils import InferenceServerException

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.tensors import NUM_PIXELS
from tests.support.paths import SERVED_MODEL, served_version_dir
from tests.support.servers import serving_wsgi

MODEL = f"/v2/models/{SERVED_MODEL}"
#: The version the tests serve: the newest of the bundled model.
VERSION = served_version_dir().name
HEADER = "Inference-Header-Content-Length"


@pytest.fixture(scope="module")
def triton(app: Flask) -> Iterator[httpclient.InferenceServerClient]:
    with serving_wsgi(app) as server:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{server.server_port}")
        yield client
        client.close()


@pytest.fixture(scope="module")
def x(validation_images) -> np.ndarray:
    return (validation_images[0][:16].reshape(-1, NUM_PIXELS) / np.float32(255)).astype(np.float32)


def images_input(array: np.ndarray, binary: bool, datatype: str = "FP32") -> httpclient.InferInput:
    tensor = httpclient.InferInput("images", list(array.shape), datatype)
    return tensor.set_data_from_numpy(array, binary_data=binary)


def test_health_and_metadata_with_tritonclient(triton):
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.is_model_ready(SERVED_MODEL)
    assert triton.is_model_ready(SERVED_MODEL, VERSION)
    assert not triton.is_model_ready(SERVED_MODEL, "99")
    assert not triton.is_model_ready("nope")
    assert triton.get_server_metadata() == {
        "name": "emnist-serving", "version": "0.3.0", "extensions": ["binary_tensor_data"]}
    metadata = triton.get_model_metadata(SERVED_MODEL)
    assert metadata == {
        "name": SERVED_MODEL, "versions": [VERSION], "platform": "onnx_onnxv1",
        "inputs": [{"name": "images", "datatype": "FP32", "shape": [-1, NUM_PIXELS]}],
        "outputs": [{"name": "scores", "datatype": "FP32", "shape": [-1, NUM_CLASSES]}],
    }
    assert triton.get_model_metadata(SERVED_MODEL, VERSION) == metadata
    with pytest.raises(InferenceServerException, match="Latest\\(nope\\)"):
        triton.get_model_metadata("nope")


@pytest.mark.parametrize("binary_in", [True, False])
@pytest.mark.parametrize("binary_out", [True, False, None])
def test_infer_json_and_binary_tensors(triton, x, onnx_reference, binary_in, binary_out):
    requested = httpclient.InferRequestedOutput("scores", binary_data=bool(binary_out))
    outputs = None if binary_out is None else [requested]
    result = triton.infer(SERVED_MODEL, [images_input(x, binary_in)], outputs=outputs, request_id="r-7")
    scores = result.as_numpy("scores")
    assert scores.dtype == np.float32 and scores.shape == (len(x), NUM_CLASSES)
    np.testing.assert_allclose(scores, onnx_reference(x), atol=1e-6)
    response = result.get_response()
    assert response["model_name"] == SERVED_MODEL and response["model_version"] == VERSION
    assert response["id"] == "r-7"
    in_binary = "parameters" in response["outputs"][0]
    assert in_binary == (binary_out is not False)  # no outputs listed: tritonclient asks for binary


@pytest.mark.parametrize(("datatype", "scale"), [("UINT8", 255), ("FP64", 1), ("FP16", 1)])
@pytest.mark.parametrize("binary", [True, False])
def test_uint8_fp64_fp16_and_28x28(triton, validation_images, onnx_reference, datatype, scale, binary):
    pixels = validation_images[0][:4]
    array = (pixels if datatype == "UINT8" else pixels / 255.0).astype(
        {"UINT8": np.uint8, "FP64": np.float64, "FP16": np.float16}[datatype])
    result = triton.infer(SERVED_MODEL, [images_input(array, binary, datatype)])
    expected = onnx_reference(array.reshape(-1, NUM_PIXELS).astype(np.float32) / scale)
    np.testing.assert_allclose(result.as_numpy("scores"), expected, atol=1e-6)


def test_versioned_infer_and_compressed_requests(triton, x, onnx_reference):
    for compression in (None, "gzip", "deflate"):
        result = triton.infer(SERVED_MODEL, [images_input(x, True)], model_version=VERSION,
                              request_compression_algorithm=compression)
        np.testing.assert_allclose(result.as_numpy("scores"), onnx_reference(x), atol=1e-6)


@pytest.mark.parametrize(
    ("name", "columns", "message"),
    [("pixels", NUM_PIXELS, "unexpected inference input 'pixels'"),
     ("images", 700, "does not hold images of 784 pixels")],
)
def test_tritonclient_sees_the_refusals(triton, x, name, columns, message):
    tensor = httpclient.InferInput(name, [len(x), columns], "FP32")
    tensor.set_data_from_numpy(np.ascontiguousarray(x[:, :columns]), binary_data=False)
    with pytest.raises(InferenceServerException, match=message) as caught:
        triton.infer(SERVED_MODEL, [tensor])
    assert caught.value.status() == "400"


def test_unknown_output_and_model(triton, x):
    with pytest.raises(InferenceServerException, match="unexpected inference output 'classes'") as caught:
        triton.infer(SERVED_MODEL, [images_input(x, True)],
                     outputs=[httpclient.InferRequestedOutput("classes")])
    assert caught.value.status() == "400"
    with pytest.raises(InferenceServerException, match="Servable not found") as caught:
        triton.infer("nope", [images_input(x, True)])
    assert caught.value.status() == "404"


def post_infer(client, document: dict, binary: bytes = b"", path: str = MODEL + "/infer", **headers):
    header = json.dumps(document).encode()
    if binary:
        headers[HEADER] = str(len(header))
    return client.post(path, data=header + binary, headers=headers)


def test_curl_json_request_and_answer(client, x, onnx_reference):
    document = {"inputs": [{"name": "images", "shape": [2, 28, 28], "datatype": "FP32",
                            "data": x[:2].reshape(2, 28, 28).tolist()}],
                "outputs": [{"name": "scores"}]}
    answer = post_infer(client, document)
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert HEADER not in answer.headers
    (output,) = answer.get_json()["outputs"]
    assert output["shape"] == [2, NUM_CLASSES] and output["datatype"] == "FP32"
    np.testing.assert_allclose(np.reshape(output["data"], (2, -1)), onnx_reference(x[:2]), atol=1e-6)


def test_binary_answer_layout(client, x, onnx_reference):
    raw = x[:3].tobytes()
    document = {"inputs": [{"name": "images", "shape": [3, NUM_PIXELS], "datatype": "FP32",
                            "parameters": {"binary_data_size": len(raw)}}],
                "parameters": {"binary_data_output": True}}
    answer = post_infer(client, document, raw)
    assert answer.status_code == 200 and answer.mimetype == "application/octet-stream"
    length = int(answer.headers[HEADER])
    header = json.loads(answer.data[:length])
    size = header["outputs"][0]["parameters"]["binary_data_size"]
    assert size == 3 * NUM_CLASSES * 4 == len(answer.data) - length
    scores = np.frombuffer(answer.data[length:], "<f4").reshape(3, NUM_CLASSES)
    np.testing.assert_allclose(scores, onnx_reference(x[:3]), atol=1e-6)


def good_input(**changes) -> dict:
    tensor = {"name": "images", "shape": [1, NUM_PIXELS], "datatype": "FP32", "data": [0.0] * NUM_PIXELS}
    return tensor | changes


@pytest.mark.parametrize(
    ("document", "binary", "header", "status", "message"),
    [
        ({"inputs": []}, b"", None, 400, "'inputs' must be a non-empty list"),
        ({}, b"", None, 400, "'inputs' must be a non-empty list"),
        ({"inputs": [good_input(), good_input()]}, b"", None, 400, "expected 1 input"),
        ({"inputs": [good_input(datatype="INT32", data=[0] * NUM_PIXELS)]}, b"", None, 400,
         "tensors of int32 are not accepted"),
        ({"inputs": [good_input(datatype="BYTES")]}, b"", None, 400, "datatype 'BYTES' is not accepted"),
        ({"inputs": [good_input(shape=[2, NUM_PIXELS])]}, b"", None, 400,
         "holds 1568 elements but data has 784"),
        ({"inputs": [good_input(shape=[1, -784])]}, b"", None, 400, "must hold non-negative integers"),
        ({"inputs": [good_input(data="abc")]}, b"", None, 400, "data must be a list of numbers"),
        ({"inputs": [good_input(data=[[1, 2], [3]])]}, b"", None, 400, "regular (flat or nested) list"),
        ({"inputs": [good_input(datatype="UINT8", data=[300] * NUM_PIXELS)]}, b"", None, 400,
         "uint8 data must be integers from 0 to 255"),
        ({"inputs": [good_input(data=[1e39] * NUM_PIXELS)]}, b"", None, 400, "NaN or infinite"),
        ({"inputs": [{"name": "images", "datatype": "FP32", "data": []}]}, b"", None, 400,
         "'shape' is missing"),
        ({"inputs": [{"name": "images", "shape": [1, NUM_PIXELS], "datatype": "FP32"}]}, b"", None, 400,
         "neither 'data' nor parameters.binary_data_size"),
        ({"inputs": [good_input(parameters={"shared_memory_region": "r"})]}, b"", None, 400,
         "input 'images': parameter 'shared_memory_region' is not supported: this server does not implement "
         "the shared memory extension: send the tensor's data"),
        ({"inputs": [good_input()], "outputs": [{"name": "scores", "parameters": {"classification": 3}}]},
         b"", None, 400, "output 'scores': parameter 'classification' is not supported: this server does not "
         "implement the classification extension: ask for the scores"),
        ({"inputs": [good_input()], "outputs": [{"name": "scores"}, {"name": "scores"}]}, b"", None, 400,
         "more than once"),
        ({"inputs": [good_input()], "outputs": {"name": "scores"}}, b"", None, 400,
         "'outputs' must be a list"),
        ({"inputs": [good_input()], "id": 7}, b"", None, 400, "'id' must be a string"),
        ({"inputs": [good_input()], "parameters": {"binary_data_output": "yes"}}, b"", None, 400,
         "must be a boolean"),
        ({"inputs": [good_input(data=None, parameters={"binary_data_size": 3136})]}, b"\0" * 3000, "auto",
         400, "runs past the 3000 bytes"),
        ({"inputs": [good_input()]}, b"\0" * 8, "auto", 400, "8 bytes of binary data follow"),
        ({"inputs": [good_input()]}, b"", "99999", 400, "is not a length within the body"),
        ({"inputs": [good_input(data=[0.0] * NUM_PIXELS * 2000, shape=[2000, NUM_PIXELS])]}, b"", None, 400,
         "over the limit MAX_INSTANCES"),
        ({"inputs": [good_input(data=[], shape=[0, 2**63 - 1])]}, b"", None, 400,
         "input 'images': shape [0, 9223372036854775807] has a dimension over the limit MAX_INSTANCES"),
        ({"inputs": [good_input(data=None, shape=[0, 2**63 - 1], parameters={"binary_data_size": 0})]}, b"",
         "auto", 400, "has a dimension over the limit MAX_INSTANCES"),
    ],
)
def test_infer_refusals(client, document, binary, header, status, message):
    body = json.dumps(document).encode()
    headers = {}
    if header is not None:
        headers[HEADER] = str(len(body)) if header == "auto" else header
    answer = client.post(MODEL + "/infer", data=body + binary, headers=headers)
    assert answer.status_code == status
    assert message in answer.get_json()["error"]


def test_bodies_that_are_not_json_or_not_inflatable(client):
    for body, headers, status, message in [
        (b"", {}, 400, "The document is empty"),
        (b"{not json", {}, 400, "JSON Parse error"),
        (b"[1, 2]", {}, 400, "Is not object"),
        (b"\x1f\x8b garbage", {"Content-Encoding": "gzip"}, 400, "does not decompress"),
        (gzip.compress(b'{"inputs": []}')[:-6], {"Content-Encoding": "gzip"}, 400, "truncated"),
        (b"{}", {"Content-Encoding": "br"}, 415, "Content-Encoding br is not supported"),
    ]:
        answer = client.post(MODEL + "/infer", data=body, headers=headers)
        assert answer.status_code == status, body
        assert message in answer.get_json()["error"]


def test_a_zip_bomb_stops_at_the_size_limit(make_app):
    small = make_app(MAX_CONTENT_LENGTH=10_000).test_client()
    bomb = zlib.compress(b'{"inputs": [' + b" " * 100_000 + b"]}")
    answer = small.post(MODEL + "/infer", data=bomb, headers={"Content-Encoding": "deflate"})
    assert answer.status_code == 413
    assert "MAX_CONTENT_LENGTH=10000" in answer.get_json()["error"]


def test_routes_and_errors_without_a_client(client, make_app):
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    assert client.get(MODEL + "/ready").get_json() == {"name": SERVED_MODEL, "ready": True}
    assert client.get(f"{MODEL}/versions/{VERSION}/ready").status_code == 200
    assert client.get(f"{MODEL}/versions/{VERSION}").get_json()["name"] == SERVED_MODEL
    answer = client.get(MODEL + "/versions/99")
    assert answer.status_code == 404 and "Specific(emnist, 99)" in answer.get_json()["error"]
    assert client.get(MODEL + "/versions/stable").status_code == 400  # an unknown label
    assert client.get("/v2/nothing").status_code == 404
    assert "error" in client.get("/v2/nothing").get_json()
    assert client.get(MODEL + "/infer").status_code == 405
    idle = make_app(START_REGISTRY=False).test_client()
    answer = idle.get("/v2/health/ready")
    assert answer.status_code == 400 and answer.get_json() == {"ready": False}
    assert idle.get("/v2/health/live").status_code == 200
    assert idle.get(MODEL + "/ready").status_code == 400


def test_version_labels_name_versions(make_app, x, onnx_reference):
    labelled = make_app(MODEL_VERSION_LABELS=f"stable={VERSION}").test_client()
    document = {"inputs": [good_input(shape=[1, NUM_PIXELS], data=x[0].tolist())]}
    answer = post_infer(labelled, document, path=MODEL + "/versions/stable/infer")
    assert answer.status_code == 200 and answer.get_json()["model_version"] == VERSION
    assert labelled.get(MODEL + "/versions/stable/ready").get_json()["ready"] is True


def middlewares(app: Flask) -> list[type]:
    """The WSGI middlewares in front of the Flask app, outermost first."""
    layers, layer = [], app.wsgi_app
    while hasattr(layer, "wsgi_app"):
        layers.append(type(layer))
        layer = layer.wsgi_app
    return layers


def test_the_fast_path_answers_what_the_flask_route_answers(app, make_app, x):
    """The WSGI fast path (FAST_PREDICT_PATH) and the Flask view give the same bytes, errors included."""
    from webapp.http.routing import FastRoutes

    assert FastRoutes in middlewares(app)  # installed by create_app
    flask_only = make_app(FAST_PREDICT_PATH=False)
    assert FastRoutes not in middlewares(flask_only)
    fast, slow = app.test_client(), flask_only.test_client()
    raw = x[:2].tobytes()
    binary = {"inputs": [{"name": "images", "shape": [2, NUM_PIXELS], "datatype": "FP32",
                          "parameters": {"binary_data_size": len(raw)}}],
              "outputs": [{"name": "scores", "parameters": {"binary_data": True}}], "id": "b"}
    cases = [
        (MODEL + "/infer", {"inputs": [good_input(data=x[0].tolist())]}, b""),
        (f"{MODEL}/versions/{VERSION}/infer", binary, raw),
        (MODEL + "/infer", binary, raw[:-4]),
        (MODEL + "/infer", {"inputs": [good_input(name="pixels")]}, b""),
        ("/v2/models/nope/infer", {"inputs": [good_input()]}, b""),
    ]
    for path, document, data in cases:
        answers = [post_infer(client, document, data, path=path) for client in (fast, slow)]
        assert answers[0].status_code == answers[1].status_code, path
        assert answers[0].data == answers[1].data, path
        assert answers[0].headers.get(HEADER) == answers[1].headers.get(HEADER)
        assert answers[0].mimetype == answers[1].mimetype
    assert post_infer(fast, binary, raw).headers[HEADER]
