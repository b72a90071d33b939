"""SageMaker's /ping and /invocations: TF Serving's :predict of the default model, Content-Type and Accept
honoured, through Flask and the fast path alike."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from emnist_contract.labels import NUM_CLASSES
from tests.support.paths import encode_image


@pytest.fixture(scope="module", params=[True, False], ids=["fast-path", "flask"])
def sagemaker_client(request, make_module_app):
    return make_module_app(FAST_PREDICT_PATH=request.param).test_client()


def test_ping_is_ready_with_the_model_loaded(sagemaker_client):
    answer = sagemaker_client.get("/ping")
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "ready"


def test_ping_is_503_without_a_model(make_app, tmp_path):
    client = make_app(MODEL_BASE_PATH=str(tmp_path), MODEL_NAME="absent").test_client()
    answer = client.get("/ping")
    assert answer.status_code == 503
    assert answer.get_json()["status"] == "not ready"


def test_tf_serving_instances_json(sagemaker_client, pixels, expected):
    x, _ = pixels
    answer = sagemaker_client.post("/invocations", data=json.dumps({"instances": x.tolist()}),
                                   content_type="application/json")
    assert answer.status_code == 200, answer.get_json()
    assert answer.mimetype == "application/json"
    np.testing.assert_allclose(answer.get_json()["predictions"], expected, atol=1e-6)


def test_npy_body_with_npy_answer(sagemaker_client, pixels, expected):
    x, _ = pixels
    buffer = io.BytesIO()
    np.save(buffer, x)
    answer = sagemaker_client.post("/invocations", data=buffer.getvalue(), content_type="application/x-npy",
                                   headers={"Accept": "application/x-npy"})
    assert answer.status_code == 200, answer.data[:200]
    assert answer.mimetype == "application/x-npy"
    np.testing.assert_allclose(np.load(io.BytesIO(answer.data)), expected, atol=1e-6)


def test_image_file_is_read_as_the_app_reads_uploads(sagemaker_client, pixels):
    x, _ = pixels
    png = encode_image((x[0].reshape(28, 28) * 255).round().astype(np.uint8))
    answer = sagemaker_client.post("/invocations", data=png, content_type="image/png",
                                   headers={"Accept": "*/*"})
    assert answer.status_code == 200, answer.get_json()
    scores = np.asarray(answer.get_json()["predictions"])
    assert scores.shape == (1, NUM_CLASSES)
    same = sagemaker_client.post("/predict", data=png, content_type="image/png").get_json()
    np.testing.assert_allclose(scores, same["predictions"], atol=1e-6)


def test_json_content_type_is_read_as_json_even_when_it_is_not(sagemaker_client):
    answer = sagemaker_client.post("/invocations", data=b"\x89PNG\r\n\x1a\nnot json",
                                   content_type="application/json")
    assert answer.status_code == 400
    assert "error" in answer.get_json()


@pytest.mark.parametrize("content_type", ["text/csv", "multipart/form-data; boundary=x", "application/xml"])
def test_unreadable_content_types_are_415(sagemaker_client, content_type):
    answer = sagemaker_client.post("/invocations", data=b"1,2,3", content_type=content_type)
    assert answer.status_code == 415
    assert "Content-Type" in answer.get_json()["error"]


@pytest.mark.parametrize("accept", ["text/csv", "application/xml, text/html"])
def test_answers_nobody_accepts_are_406(sagemaker_client, pixels, accept):
    x, _ = pixels
    answer = sagemaker_client.post("/invocations", json={"instances": x[:1].tolist()},
                                   headers={"Accept": accept})
    assert answer.status_code == 406
    assert "Accept" in answer.get_json()["error"]


def test_invocations_serve_the_configured_default_model(make_app, tmp_path, pixels):
    x, _ = pixels
    client = make_app(MODEL_NAME="absent", MODEL_BASE_PATH=str(tmp_path)).test_client()
    answer = client.post("/invocations", json={"instances": x[:1].tolist()})
    assert answer.status_code == 404
    assert "absent" in answer.get_json()["error"]
