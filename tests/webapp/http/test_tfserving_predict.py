"""TF Serving's REST :predict: every payload form and answer format, answered as TF Serving answers."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest

from emnist_contract.labels import NUM_CLASSES
from tests.support.paths import SERVED_MODEL, encode_image

PREDICT = f"/v1/models/{SERVED_MODEL}:predict"


def test_blogs_client_loop_works_unchanged(client, pixels, expected):
    x, _ = pixels
    # The blog: requests.post(url, data=json.dumps({"instances": x.tolist()})) -- a str body, no Content-Type.
    answer = client.post(PREDICT, data=json.dumps({"instances": x.tolist()}), content_type=None)
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    predictions = answer.get_json()["predictions"]
    assert np.asarray(predictions).shape == (len(x), NUM_CLASSES)
    np.testing.assert_allclose(predictions, expected, atol=1e-6)


@pytest.mark.parametrize("fast_path", [True, False])
def test_curl_d_form_content_type_is_read_as_json(make_app, pixels, expected, fast_path):
    # TF Serving's own examples use `curl -d '{"instances": ...}'`, which labels the JSON body
    # application/x-www-form-urlencoded; TF Serving reads it as JSON, and so must we (both paths).
    x, _ = pixels
    client = make_app(FAST_PREDICT_PATH=fast_path).test_client()
    body = json.dumps({"instances": x.tolist()})
    answer = client.post(PREDICT, data=body, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200, answer.get_json()
    np.testing.assert_allclose(answer.get_json()["predictions"], expected, atol=1e-6)
    example = {"examples": [{"images": x[0].tolist()}]}
    answer = client.post(f"/v1/models/{SERVED_MODEL}:classify", data=json.dumps(example),
                         content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200, answer.get_json()
    assert len(answer.get_json()["results"][0]) == NUM_CLASSES


def test_versioned_url_and_28x28_instances(client, pixels, expected):
    x, _ = pixels
    body = {"signature_name": "serving_default", "instances": x.reshape(-1, 28, 28).tolist()}
    answer = client.post(f"/v1/models/{SERVED_MODEL}/versions/{current_version(client)}:predict", json=body)
    assert answer.status_code == 200
    np.testing.assert_allclose(answer.get_json()["predictions"], expected, atol=1e-6)


def current_version(client) -> str:
    return client.get(f"/v1/models/{SERVED_MODEL}").get_json()["model_version_status"][0]["version"]


def test_columnar_inputs_answer_outputs(client, pixels, expected):
    x, _ = pixels
    for inputs in (x.tolist(), {"images": x.tolist()}):
        answer = client.post(PREDICT, json={"inputs": inputs})
        assert answer.status_code == 200
        assert list(answer.get_json()) == ["outputs"]
        np.testing.assert_allclose(answer.get_json()["outputs"], expected, atol=1e-6)


def test_named_object_instances(client, pixels, expected):
    x, _ = pixels
    answer = client.post(PREDICT, json={"instances": [{"images": row} for row in x.tolist()]})
    np.testing.assert_allclose(answer.get_json()["predictions"], expected, atol=1e-6)


def test_b64_instances_image_files_and_raw_pixels(client, validation_images, pixels, expected):
    images, _ = validation_images
    x, _ = pixels
    png = base64.b64encode(encode_image(images[0])).decode()
    raw_float = base64.b64encode(x[1].astype("<f4").tobytes()).decode()
    raw_uint8 = base64.b64encode(images[2].tobytes()).decode()
    body = {"instances": [{"b64": png}, {"b64": raw_float}, {"b64": raw_uint8}]}
    answer = client.post(PREDICT, json=body)
    assert answer.status_code == 200
    np.testing.assert_allclose(answer.get_json()["predictions"], expected[:3], atol=1e-6)


def test_columnar_b64_of_a_raw_float32_batch(client, pixels, expected):
    x, _ = pixels
    body = {"inputs": {"b64": base64.b64encode(x.astype("<f4").tobytes()).decode()}}
    answer = client.post(PREDICT, json=body)
    np.testing.assert_allclose(answer.get_json()["outputs"], expected, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_npy_body(client, pixels, validation_images, expected, dtype):
    x, _ = pixels
    array = x if dtype == "float32" else validation_images[0][:8]
    buffer = io.BytesIO()
    np.save(buffer, array)
    answer = client.post(PREDICT, data=buffer.getvalue(), content_type="application/octet-stream")
    assert answer.status_code == 200
    np.testing.assert_allclose(answer.get_json()["predictions"], expected, atol=1e-6)


@pytest.mark.parametrize("payload", ["npy body", "json rows", "json columnar"])
def test_npy_answer_when_the_client_accepts_it(client, pixels, expected, payload):
    """``Accept: application/x-npy`` answers the scores as a .npy file (both the fast path and Flask)."""
    x, _ = pixels
    if payload == "npy body":
        buffer = io.BytesIO()
        np.save(buffer, x)
        request = {"data": buffer.getvalue(), "content_type": "application/x-npy"}
    else:
        key = "instances" if payload == "json rows" else "inputs"
        request = {"json": {key: x.tolist()}}
    answer = client.post(PREDICT, headers={"Accept": "application/x-npy"}, **request)
    assert answer.status_code == 200
    assert answer.mimetype == "application/x-npy"
    scores = np.load(io.BytesIO(answer.data), allow_pickle=False)
    assert scores.dtype == np.float32 and scores.shape == (len(x), NUM_CLASSES)
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    default = client.post(PREDICT, headers={"Accept": "*/*"}, **request)
    assert default.mimetype == "application/json"
    np.testing.assert_allclose(default.get_json()["predictions" if payload != "json columnar" else "outputs"],
                               scores, atol=1e-6)


def test_npy_answer_refused_for_a_signature_with_two_outputs(client, pixels):
    x, _ = pixels
    body = {"signature_name": "predict_images", "instances": x[:2].tolist()}
    answer = client.post(PREDICT, json=body, headers={"Accept": "application/x-npy"})
    assert answer.status_code == 406
    assert "classes" in answer.get_json()["error"] and "application/json" in answer.get_json()["error"]


def test_multi_output_signature_row_and_columnar(client, pixels, expected):
    x, _ = pixels
    row = client.post(PREDICT, json={"signature_name": "predict_images", "instances": x[:3].tolist()})
    assert row.status_code == 200
    predictions = row.get_json()["predictions"]
    assert [sorted(p) for p in predictions] == [["classes", "scores"]] * 3
    assert [p["classes"] for p in predictions] == expected[:3].argmax(axis=1).tolist()
    np.testing.assert_allclose([p["scores"] for p in predictions], expected[:3], atol=1e-6)
    columns = client.post(PREDICT, json={"signature_name": "predict_images", "inputs": x[:3].tolist()})
    outputs = columns.get_json()["outputs"]
    assert outputs["classes"] == expected[:3].argmax(axis=1).tolist()
    np.testing.assert_allclose(outputs["scores"], expected[:3], atol=1e-6)


def test_default_signature_follows_tf_servings_one_output_rule(client, pixels):
    """No special case: serving_default lists ``scores`` alone, so TF Serving answers rows of 62 scores."""
    metadata = client.get(f"/v1/models/{SERVED_MODEL}/metadata").get_json()
    default = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert list(default["outputs"]) == ["scores"]
    x, _ = pixels
    predictions = client.post(PREDICT, json={"instances": x[:2].tolist()}).get_json()["predictions"]
    assert [len(row) for row in predictions] == [NUM_CLASSES, NUM_CLASSES]
    assert all(isinstance(value, float) for row in predictions for value in row)


@pytest.mark.parametrize("engine", ["onnxruntime", "tensorflow"])
def test_a_two_output_default_signature_answers_objects_per_row(make_app, tmp_path, pixels, engine):
    """An export whose serving_default also gives ``classes`` (not ours) is answered as TF Serving would:
    an object per instance (row format) and an object of columns (columnar), not rows of scores."""
    from tests.support.model_versions import expected_scores, write_savedmodel_version

    write_savedmodel_version(tmp_path / "other" / "1", seed=5, default_outputs=("scores", "classes"))
    # The Flask view's answer (the WSGI fast path only serves models whose default gives scores alone).
    client = make_app(MODEL_BASE_PATH=str(tmp_path), MODEL_NAME="other", ENGINE=engine,
                      FAST_PREDICT_PATH=False).test_client()
    x, _ = pixels
    scores = expected_scores(5, x[:3])
    answer = client.post("/v1/models/other:predict", json={"instances": x[:3].tolist()})
    assert answer.status_code == 200, answer.get_json()
    predictions = answer.get_json()["predictions"]
    assert [sorted(p) for p in predictions] == [["classes", "scores"]] * 3
    assert [p["classes"] for p in predictions] == scores.argmax(axis=1).tolist()
    np.testing.assert_allclose([p["scores"] for p in predictions], scores, atol=1e-5)
    outputs = client.post("/v1/models/other:predict", json={"inputs": x[:3].tolist()}).get_json()["outputs"]
    assert sorted(outputs) == ["classes", "scores"]
    np.testing.assert_allclose(outputs["scores"], scores, atol=1e-5)


