"""The app as a front end (MODEL_SERVER set): the page, /predict and the TF Serving REST routes answer the
same bytes as the app serving the model itself, over a gRPC and over a REST model server."""

from __future__ import annotations

import base64
import io

import numpy as np
import orjson
import pytest

from tests.support.paths import SERVED_MODEL, TEST_IMAGES, served_version_dir

IMAGES = np.random.default_rng(9).random((3, 784)).round(4)


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array.astype(np.float32))
    return buffer.getvalue()


PNG = (TEST_IMAGES / "A_upper_0.png").read_bytes()
MODEL = f"/v1/models/{SERVED_MODEL}"
#: The version the tests serve: the newest of the bundled model.
VERSION = served_version_dir().name
PREDICT = f"{MODEL}:predict"
ROWS = {"json": {"instances": IMAGES.tolist()}}
BLANK = {"json": {"instances": [[0] * 784]}}
POSTS = {
    "rows": (PREDICT, ROWS),
    "columns, two outputs": (PREDICT, {"json": {"signature_name": "predict_images",
                                                "inputs": {"images": IMAGES.tolist()}}}),
    "rows, two outputs": (PREDICT, {"json": {"signature_name": "predict_images",
                                             "instances": IMAGES.tolist()}}),
    "b64 image file": (PREDICT, {"json": {"instances": [{"b64": base64.b64encode(PNG).decode()}]}}),
    ".npy body": (PREDICT, {"data": npy(IMAGES), "content_type": "application/x-npy"}),
    ".npy answer": (PREDICT, {"data": npy(IMAGES), "content_type": "application/x-npy",
                              "headers": {"Accept": "application/x-npy"}}),
    "version": (f"{MODEL}/versions/{VERSION}:predict", ROWS),
    "classify": (f"{MODEL}:classify", {"json": {"examples": [{"images": IMAGES[0].tolist()}]}}),
    "unknown model": ("/v1/models/nope:predict", ROWS),
    "unknown version": (f"{MODEL}/versions/7:predict", BLANK),
    "unknown label": (f"{MODEL}/labels/canary:predict", BLANK),
    "unknown signature": (PREDICT, {"json": {"signature_name": "nope", "instances": [[0] * 784]}}),
    "bad pixels": (PREDICT, {"json": {"instances": [[0.5] * 700]}}),
    "not json": (PREDICT, {"data": b"{", "content_type": "application/json"}),
}
GETS = [MODEL, f"{MODEL}/versions/{VERSION}", f"{MODEL}/metadata", "/v1/models/nope", f"{MODEL}/versions/7"]


def upload() -> dict:
    return {"data": {"image": (io.BytesIO(PNG), "A.png")}, "content_type": "multipart/form-data"}


@pytest.fixture(params=["grpc", "http"])
def remote(request, front_end, grpc_model_server, rest_model_server):
    """A front end over one model server of each protocol; and its address."""
    address = f"grpc://{grpc_model_server.target}" if request.param == "grpc" else rest_model_server
    return front_end(address).test_client(), address


@pytest.mark.parametrize("case", POSTS)
def test_tf_serving_routes_answer_the_same_bytes(app, remote, case):
    client, _ = remote
    path, options = POSTS[case]
    local, answered = app.test_client().post(path, **options), client.post(path, **options)
    assert (answered.status_code, answered.content_type) == (local.status_code, local.content_type)
    assert answered.data == local.data


@pytest.mark.parametrize("path", GETS)
def test_status_and_metadata_answer_the_same_bytes(app, remote, path):
    client, _ = remote
    local, answered = app.test_client().get(path), client.get(path)
    assert answered.status_code == local.status_code
    assert answered.data == local.data


def test_predict_names_the_version_and_the_model_server(app, remote):
    client, address = remote
    answered = client.post("/predict?top_k=3", **upload())
    local = app.test_client().post("/predict?top_k=3", **upload())
    assert answered.status_code == 200, answered.data
    document, expected = orjson.loads(answered.data), orjson.loads(local.data)
    assert document["model_spec"] == {"name": SERVED_MODEL, "version": VERSION, "engine": address}
    document["model_spec"]["engine"] = expected["model_spec"]["engine"]
    assert document == expected


def test_the_page_reads_the_same_character(app, remote):
    client, address = remote
    answered, local = client.post("/", **upload()), app.test_client().post("/", **upload())
    assert answered.status_code == 200
    engine = app.extensions["inference_service"].manager.engine_kind
    assert answered.data == local.data.replace(f"({engine})".encode(), f"({address})".encode())


def test_readyz_reflects_the_model_server(app, remote):
    client, _ = remote
    answered = client.get("/readyz")
    assert answered.status_code == 200
    assert answered.data == app.test_client().get("/readyz").data
