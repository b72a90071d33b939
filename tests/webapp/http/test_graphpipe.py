"""GraphPipe on /graphpipe/<model>: the official client (graphpipe 1.0.4) works unchanged; every refusal
is a GraphPipe Error with a 4xx, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import requests
from flask import Flask
from graphpipe import convert, remote

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.tensors import NUM_PIXELS
from tests.support.paths import SERVED_MODEL, served_version_dir
from tests.support.servers import serving_wsgi

PATH = f"/graphpipe/{SERVED_MODEL}"


@pytest.fixture(scope="module")
def url(app: Flask) -> Iterator[str]:
    with serving_wsgi(app) as server:
        yield f"http://127.0.0.1:{server.server_port}{PATH}"


@pytest.fixture(scope="module")
def images(validation_images) -> np.ndarray:
    return validation_images[0][:16]


def graphpipe_error(response: requests.Response | object) -> dict:
    """The one Error of an InferResponse body, read by the official client's own decoder."""
    data = response.content if isinstance(response, requests.Response) else response.data
    tensors, errors = convert.deserialize_infer_response(data)
    assert tensors == [] and len(errors) == 1
    return {"code": errors[0]["code"], "message": errors[0]["message"].decode()}


def test_client_execute_float64_pixels(url, images, onnx_reference):
    x = images.reshape(-1, NUM_PIXELS) / 255.0  # numpy's float64: the client sends the array's own type
    scores = remote.execute(url, x)
    assert scores.dtype == np.float32 and scores.shape == (len(x), NUM_CLASSES)
    np.testing.assert_allclose(scores, onnx_reference(x.astype(np.float32)), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("shape", [(-1, NUM_PIXELS), (-1, 28, 28), (-1, 1, NUM_PIXELS)])
def test_float_types_and_shapes(url, images, onnx_reference, dtype, shape):
    x = (images / 255.0).astype(dtype).reshape(shape)
    scores = remote.execute(url, x)
    expected = onnx_reference(x.astype(np.float32).reshape(-1, NUM_PIXELS))
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_uint8_pixels_are_divided_by_255(url, images, onnx_reference):
    scores = remote.execute(url, images)  # uint8 [N,28,28]
    np.testing.assert_allclose(scores, onnx_reference(images.reshape(-1, NUM_PIXELS) / np.float32(255)),
                               atol=1e-6)


def test_one_image_without_batch_dimension(url, images, onnx_reference):
    scores = remote.execute(url, images[0].reshape(NUM_PIXELS))
    assert scores.shape == (1, NUM_CLASSES)
    np.testing.assert_allclose(scores, onnx_reference(images[:1].reshape(1, -1) / np.float32(255)), atol=1e-6)


def test_named_input_and_output(url, images, onnx_reference):
    x = images.reshape(-1, NUM_PIXELS).astype(np.float32) / 255
    scores = remote.execute(url, x, input_name="images", output_name="scores")
    np.testing.assert_allclose(scores, onnx_reference(x), atol=1e-6)
    twice = remote.execute_multi(url, [x], ["images"], ["scores", "scores"])
    assert len(twice) == 2 and np.array_equal(twice[0], twice[1])


def test_metadata_and_the_clients_helpers(url):
    metadata = remote.metadata(url)
    assert metadata.Name() == SERVED_MODEL.encode()
    assert metadata.Server() == b"emnist-serving"
    assert f"version {served_version_dir().name}".encode() in metadata.Description()
    assert remote.get_input_names(url) == ["images"]
    assert remote.get_output_names(url) == ["scores"]
    assert remote.get_input_types(url) == [np.dtype(np.float32)]
    assert remote.get_output_types(url) == [np.dtype(np.float32)]
    assert remote.get_input_shapes(url) == [[None, NUM_PIXELS]]
    assert remote.get_output_shapes(url) == [[None, NUM_CLASSES]]


def test_versioned_route(url, images):
    x = images.reshape(-1, NUM_PIXELS) / 255.0
    versioned = f"{url}/versions/{served_version_dir().name}"
    np.testing.assert_array_equal(remote.execute(versioned, x), remote.execute(url, x))
    with pytest.raises(requests.HTTPError) as caught:
        remote.execute(url + "/versions/99", x)
    assert caught.value.response.status_code == 404
    assert graphpipe_error(caught.value.response)["code"] == 5  # NOT_FOUND


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda url, x: remote.execute(url, x, input_name="pixels"), "unknown input names ['pixels']"),
        (lambda url, x: remote.execute(url, x, output_name="classes"), "unknown output names ['classes']"),
        (lambda url, x: remote.execute(url, x[:, :700]), "does not hold images of 784 pixels"),
        (lambda url, x: remote.execute(url, (x * 255).astype(np.int32)), "tensors of int32 are not accepted"),
        (lambda url, x: remote.execute(url, np.array(["a", "b"], dtype=object)), "STRING is not accepted"),
        (lambda url, x: remote.execute(url, np.zeros((0, NUM_PIXELS))), "No values"),
        (lambda url, x: remote.execute(url, x * np.nan), "NaN or infinite"),
        (lambda url, x: remote.execute_multi(url, [x, x], None, None), "holds 2"),
    ],
)
def test_refusals_are_graphpipe_errors(url, images, call, message):
    x = images.reshape(-1, NUM_PIXELS) / 255.0
    with pytest.raises(requests.HTTPError) as caught:
        call(url, x)
    response = caught.value.response
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/octet-stream"
    error = graphpipe_error(response)
    assert error["code"] == 3  # INVALID_ARGUMENT
    assert message in error["message"]


def test_unknown_model_and_empty_or_garbage_bodies(client):
    answer = client.post("/graphpipe/nope", data=bytes(convert.serialize_metadata_request()))
    assert answer.status_code == 404
    assert "Latest(nope)" in graphpipe_error(answer)["message"]
    for body in (b"", b"not flatbuffers", b"\xff" * 64):
        answer = client.post(PATH, data=body)
        assert answer.status_code == 400
        assert "not a GraphPipe Request" in graphpipe_error(answer)["message"]


def test_corrupted_requests_never_answer_500(client, images):
    """Every byte flip of a valid request is answered (200, or a GraphPipe Error with a 4xx)."""
    body = bytearray(convert.serialize_infer_request(convert.InferReq(
        None, [images[:2].astype(np.float32) / 255], ["images"], ["scores"])))
    rng = np.random.default_rng(0)
    header = min(len(body), 96)  # the tables sit at the end; flip there and in the data
    tail = len(body) - 1 - rng.integers(0, header, 200)
    positions = np.concatenate([rng.integers(0, len(body), 100), tail])
    statuses = set()
    for position in positions:
        corrupted = bytearray(body)
        corrupted[position] ^= int(rng.integers(1, 256))
        answer = client.post(PATH, data=bytes(corrupted))
        statuses.add(answer.status_code)
        if answer.status_code != 200:
            assert 400 <= answer.status_code < 500
            graphpipe_error(answer)
    assert 400 in statuses


def test_limits_are_graphpipe_errors(make_app, images):
    few = make_app(MAX_INSTANCES=2, MAX_CONTENT_LENGTH=20_000).test_client()
    small_batch = bytes(convert.serialize_infer_request(convert.InferReq(None, [images[:3]], None, None)))
    answer = few.post(PATH, data=small_batch)
    assert answer.status_code == 400
    assert "MAX_INSTANCES=2" in graphpipe_error(answer)["message"]
    too_big = bytes(convert.serialize_infer_request(convert.InferReq(None, [images[:4] / 255.0], None, None)))
    answer = few.post(PATH, data=too_big)
    assert answer.status_code == 413
    assert "MAX_CONTENT_LENGTH=20000" in graphpipe_error(answer)["message"]


def test_before_any_model_is_loaded(make_app, images):
    answer = make_app(START_REGISTRY=False).test_client().post(
        PATH, data=bytes(convert.serialize_infer_request(convert.InferReq(None, [images[:1]], None, None))))
    assert answer.status_code == 404
    assert graphpipe_error(answer)["code"] == 5  # NOT_FOUND, as TF Serving answers before a model loads


def test_get_answers_the_metadata_as_json(client):
    answer = client.get(PATH)
    assert answer.status_code == 200
    document = answer.get_json()
    assert document["inputs"][0] | {"description": ""} == {
        "name": "images", "shape": [-1, NUM_PIXELS], "type": "Float32", "description": ""}
    assert document["outputs"][0]["shape"] == [-1, NUM_CLASSES]
    assert client.get("/graphpipe/nope").status_code == 404
    assert "error" in client.get("/graphpipe/nope").get_json()
