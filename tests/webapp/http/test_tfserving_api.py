"""TF Serving's REST contract beyond :predict: classify, status, metadata, routing, every error."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from emnist_contract.labels import BYCLASS_LABELS
from emnist_contract.tensors import NUM_PIXELS
from tests.support.paths import SERVED_MODEL, encode_image, labelled_test_images, served_version_dir

PREDICT = f"/v1/models/{SERVED_MODEL}:predict"


def test_classify(client, pixels, expected):
    x, _ = pixels
    examples = [{"images": row} for row in x[:2].tolist()]
    answer = client.post(f"/v1/models/{SERVED_MODEL}:classify", json={"examples": examples})
    assert answer.status_code == 200
    results = answer.get_json()["results"]
    assert len(results) == 2
    for result, scores in zip(results, expected[:2], strict=True):
        assert [label for label, _ in result] == list(BYCLASS_LABELS)
        np.testing.assert_allclose([score for _, score in result], scores, atol=1e-6)
    # Without signature_name the model's classify signature answers; naming it gives the same answer.
    named = client.post(f"/v1/models/{SERVED_MODEL}:classify",
                        json={"signature_name": "classify", "examples": examples})
    assert named.status_code == 200 and named.get_json() == answer.get_json()


@pytest.mark.parametrize("signature", ["serving_default", "predict_images"])
def test_classify_refuses_a_predict_signature_as_tf_serving_does(client, signature):
    answer = client.post(f"/v1/models/{SERVED_MODEL}:classify",
                         json={"signature_name": signature, "examples": [{"images": [0.0] * NUM_PIXELS}]})
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "Expected classification signature method_name to be "
                                          "tensorflow/serving/classify. Was: tensorflow/serving/predict"}


def test_classify_unknown_signature(client):
    answer = client.post(f"/v1/models/{SERVED_MODEL}:classify",
                         json={"signature_name": "nope", "examples": [{"images": [0.0] * NUM_PIXELS}]})
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "No signature was found with the name: nope"}


def test_classify_labels_are_the_models_own(make_app, tmp_path, pixels, expected):
    """The labels come from the version's assets/labels.txt (what the classify signature's ``classes``
    output reads), not from a table in the app."""
    import shutil


    version_dir = tmp_path / SERVED_MODEL / "1"
    shutil.copytree(served_version_dir(), version_dir)
    renamed = [f"class-{label}" for label in BYCLASS_LABELS]
    (version_dir / "assets" / "labels.txt").write_text("\n".join(renamed) + "\n", encoding="utf-8")
    # The model info names classes by their labels: renamed with them.
    (version_dir / "assets.extra" / "model_info.json").write_text(
        json.dumps({"classes_without_training_images": ["class-J", "class-Q"]}), encoding="utf-8")
    client = make_app(MODEL_BASE_PATH=str(tmp_path)).test_client()
    x, _ = pixels
    answer = client.post(f"/v1/models/{SERVED_MODEL}:classify",
                         json={"examples": [{"images": x[0].tolist()}]})
    assert answer.status_code == 200, answer.get_json()
    (result,) = answer.get_json()["results"]
    assert [label for label, _ in result] == renamed
    np.testing.assert_allclose([score for _, score in result], expected[0], atol=1e-6)


def test_model_status(client):
    version = served_version_dir().name
    for url in (f"/v1/models/{SERVED_MODEL}", f"/v1/models/{SERVED_MODEL}/versions/{version}"):
        answer = client.get(url)
        assert answer.status_code == 200
        (status,) = answer.get_json()["model_version_status"][:1]
        assert status["state"] == "AVAILABLE"
        assert status["status"] == {"error_code": "OK", "error_message": ""}


def test_model_metadata_as_tf_serving_prints_it(client):
    for url in (f"/v1/models/{SERVED_MODEL}/metadata",
                f"/v1/models/{SERVED_MODEL}/versions/{served_version_dir().name}/metadata"):
        answer = client.get(url)
        assert answer.status_code == 200
        body = answer.get_json()
        spec = {"name": SERVED_MODEL, "signature_name": "", "version": served_version_dir().name}
        assert body["model_spec"] == spec
        signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
        images = signature["inputs"]["images"]
        assert images["dtype"] == "DT_FLOAT"
        assert images["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}, {"size": "784", "name": ""}],
                                          "unknown_rank": False}
        assert signature["outputs"]["scores"]["dtype"] == "DT_FLOAT"
        assert signature["method_name"] == "tensorflow/serving/predict"


def test_tensorflow_engine_answers_the_same(tf_app, pixels, expected):
    x, _ = pixels
    client = tf_app.test_client()
    answer = client.post(PREDICT, data=json.dumps({"instances": x.tolist()}))
    np.testing.assert_allclose(answer.get_json()["predictions"], expected, atol=1e-5)
    answer = client.post(PREDICT, json={"signature_name": "predict_images", "instances": x.tolist()})
    predictions = answer.get_json()["predictions"]
    assert [p["classes"] for p in predictions] == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose([p["scores"] for p in predictions], expected, atol=1e-5)
    answer = client.post(f"/v1/models/{SERVED_MODEL}:classify",
                         json={"examples": [{"images": row} for row in x.tolist()]})
    for result, scores in zip(answer.get_json()["results"], expected, strict=True):
        assert [label for label, _ in result] == list(BYCLASS_LABELS)
        np.testing.assert_allclose([score for _, score in result], scores, atol=1e-5)


def test_predict_on_the_classify_signature_checks_serialized_examples_first(tf_app, pixels, expected):
    """Serialized tf.Examples fed to the classify signature: a bad one is refused in the server's words
    (TensorFlow's graph answered "Graph execution error: Detected at node ParseExample/ParseExampleV2"),
    a good one answers, and one holding an image file is read as the same example of its pixels."""
    from tf_serving_protos.tensorflow.core.example import example_pb2

    x, _ = pixels
    client = tf_app.test_client()

    def predict(*serialized: bytes):
        instances = [{"b64": base64.b64encode(value).decode()} for value in serialized]
        return client.post(PREDICT, json={"signature_name": "classify", "instances": instances})

    refused = predict(b"\xff\xff not a tf.Example")
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "example 0: not a serialized tf.Example"
    example = example_pb2.Example()
    example.features.feature["images"].float_list.value.extend(x[0].tolist()[:100])
    refused = predict(example.SerializeToString())
    assert refused.status_code == 400
    assert refused.get_json()["error"] == (
        "example 0: feature 'images' holds 100 floats, expected 784")
    example.features.feature["images"].float_list.value.extend(x[0].tolist()[100:])
    answered = predict(example.SerializeToString())
    assert answered.status_code == 200, answered.get_json()
    np.testing.assert_allclose(answered.get_json()["predictions"][0]["scores"], expected[0], atol=1e-5)
    path, _ = labelled_test_images()[0]
    image_file = example_pb2.Example()
    image_file.features.feature["images"].bytes_list.value.append(path.read_bytes())
    answered = predict(image_file.SerializeToString())
    assert answered.status_code == 200, answered.get_json()
    assert len(answered.get_json()["predictions"][0]["classes"]) == len(BYCLASS_LABELS)


def test_every_test_image_through_the_api(client):
    items = labelled_test_images()
    body = {"instances": [{"b64": base64.b64encode(path.read_bytes()).decode()} for path, _ in items]}
    answer = client.post(PREDICT, json=body)
    assert answer.status_code == 200
    predicted = [BYCLASS_LABELS[int(np.argmax(p))] for p in answer.get_json()["predictions"]]
    assert predicted == [label for _, label in items]
    # the same images as pixel lists, the blog's way
    pixels = [np.asarray(Image.open(path), dtype=np.float32).reshape(-1) / 255 for path, _ in items]
    answer = client.post(PREDICT, data=json.dumps({"instances": np.stack(pixels).tolist()}))
    assert [BYCLASS_LABELS[int(np.argmax(p))] for p in answer.get_json()["predictions"]] == predicted


# --- errors --------------------------------------------------------------------------------------------

ROW = {"instances": [[0.0] * NUM_PIXELS]}


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/v1/models/nope:predict", 404, "Servable not found for request: Latest(nope)"),
        (f"/v1/models/{SERVED_MODEL}/versions/999:predict", 404,
         f"Servable not found for request: Specific({SERVED_MODEL}, 999)"),
        (f"/v1/models/{SERVED_MODEL}/labels/nolabel:predict", 400,
         "Unrecognized servable version label: nolabel"),
        (f"/v1/models/{SERVED_MODEL}:regress", 400, "regression"),
        (f"/v1/models/{SERVED_MODEL}/versions/x:predict", 400, "Malformed request: POST"),
        ("/v1/nothing", 400, "Malformed request: POST /v1/nothing"),
    ],
)
def test_routing_errors(client, url, status, message):
    answer = client.post(url, json=ROW)
    assert answer.status_code == status
    assert message in answer.get_json()["error"]


def test_status_errors(client):
    assert client.get("/v1/models/nope").status_code == 404
    assert "nope" in client.get("/v1/models/nope").get_json()["error"]
    assert client.get(f"/v1/models/{SERVED_MODEL}/versions/999").status_code == 404
    assert client.get("/v1/models/nope/metadata").status_code == 404
    answer = client.get("/v1/models")
    assert answer.status_code == 400 and answer.get_json() == {"error": "Missing model name in request."}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "JSON Parse error: The document is empty"),
        (b"{not json", "JSON Parse error"),
        (b"[1, 2]", "Is not object"),
        (b"{}", "Missing 'inputs' or 'instances' key"),
        (b'{"instances": [], "inputs": []}', "expecting only one of 'inputs' or 'instances'"),
        (b'{"instances": 3}', "to be an list/array"),
        (b'{"instances": []}', "No values in 'instances' array"),
        (b'{"instances": [[1, 2, 3]]}', "shape [1, 3] does not hold images of 784 pixels"),
        (b'{"instances": [["a"]]}', 'JSON Value: "a" Type: String is not of expected type: float'),
        (b'{"instances": [{"pixels": [1]}]}', "keys must be equal to: images"),
        (b'{"instances": [{"b64": "@@@"}]}', "invalid base64"),
        (b'{"signature_name": "nope", "instances": [[0]]}', 'Serving signature name: "nope" not found'),
        (b'{"signature_name": 3, "instances": [[0]]}', "must be a string"),
        (b'{"inputs": {"pixels": []}}', "Missing named input: images in 'inputs' object."),
        (b'{"inputs": [[1, 2]]}', "does not hold images of 784 pixels"),
    ],
)
def test_bad_predict_bodies_are_400(client, body, message):
    answer = client.post(PREDICT, data=body)
    assert answer.status_code == 400, answer.get_json()
    assert message in answer.get_json()["error"]


def test_nan_and_b64_non_images(client):
    answer = client.post(PREDICT, data=b'{"instances": [' + b",".join([b"0"] * 783 + [b"1e999"]) + b"]}")
    assert answer.status_code == 400
    assert "JSON Parse error" in answer.get_json()["error"] or "NaN or infinite" in answer.get_json()["error"]
    junk = base64.b64encode(b"this is no image").decode()
    answer = client.post(PREDICT, json={"instances": [{"b64": junk}]})
    assert answer.status_code == 415
    assert "neither an image file" in answer.get_json()["error"]


def test_bad_classify_bodies(client):
    url = f"/v1/models/{SERVED_MODEL}:classify"
    assert "key 'examples' is expected" in client.post(url, json={}).get_json()["error"]
    assert "empty array" in client.post(url, json={"examples": []}).get_json()["error"]
    assert "missing feature 'images'" in client.post(url, json={"examples": [{"x": 1}]}).get_json()["error"]
    assert client.post(url, json={"examples": [{"images": [1, 2]}]}).status_code == 400
    example = {"images": [0.0] * NUM_PIXELS}
    answer = client.post(url, json={"signature_name": ["x"], "examples": [example]})
    assert answer.status_code == 400 and "must be a string" in answer.get_json()["error"]
    answer = client.post(url, json={"context": [1], "examples": [example]})
    assert answer.status_code == 400 and "'context'" in answer.get_json()["error"]
    answer = client.post(url, json={"context": {"images": [0.0] * NUM_PIXELS}, "examples": [{}]})
    assert answer.status_code == 200  # a feature may come from the shared context


def test_form_content_is_415(client):
    form = {"image": (io.BytesIO(b"x"), "x.png")}
    answer = client.post(PREDICT, data=form, content_type="multipart/form-data")
    assert answer.status_code == 415
    assert "POST /predict" in answer.get_json()["error"]


def test_limits_are_named(make_app):
    app = make_app(MAX_INSTANCES=2, MAX_CONTENT_LENGTH=20_000)
    client = app.test_client()
    answer = client.post(PREDICT, json={"instances": [[0.0] * NUM_PIXELS] * 3})
    assert answer.status_code == 400
    assert "MAX_INSTANCES=2" in answer.get_json()["error"]
    answer = client.post(PREDICT, data=json.dumps({"instances": [[0.5] * NUM_PIXELS] * 20}))
    assert answer.status_code == 413
    assert "MAX_CONTENT_LENGTH=20000" in answer.get_json()["error"]
    small = make_app(MAX_IMAGE_PIXELS=100).test_client()
    big_png = base64.b64encode(encode_image(np.zeros((64, 64), np.uint8))).decode()
    answer = small.post(PREDICT, json={"instances": [{"b64": big_png}]})
    assert answer.status_code == 413
    assert "MAX_IMAGE_PIXELS=100" in answer.get_json()["error"]


@pytest.mark.slow
def test_blogs_client_against_gunicorn(validation_images):
    """wsgi.py + gunicorn.conf.py as `make run` starts them; the blog's loop over real HTTP."""
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import requests

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from tests.support.paths import REPO

    env = dict(os.environ, EMNIST_MODEL_NAME=SERVED_MODEL, EMNIST_ENGINE="onnxruntime", WEB_CONCURRENCY="1",
               EMNIST_FILE_SYSTEM_POLL_SECONDS="0")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(
        [str(gunicorn), "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/readyz", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # bound, the worker still loading
                pass
            assert server.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not become ready in 60 s"
            time.sleep(0.2)
        images, labels = validation_images
        x = images[:20].reshape(-1, NUM_PIXELS) / 255.0
        url = f"{base}/v1/models/{SERVED_MODEL}:predict"
        predictions = []
        for i in range(len(x)):  # the blog's loop: one image per request, a str body, no Content-Type
            r = requests.post(url, data=json.dumps({"instances": x[i : i + 1].tolist()}))
            predictions.append(int(np.argmax(r.json()["predictions"])))
        with requests.Session() as session:
            batch = session.post(url, data=json.dumps({"instances": x.tolist()})).json()["predictions"]
        assert predictions == np.argmax(batch, axis=1).tolist()
        assert np.mean(np.asarray(predictions) == labels[:20]) > 0.5
    finally:
        server.terminate()
        server.wait(30)


def test_version_label_routes(make_app, pixels, expected):

    version = served_version_dir().name
    client = make_app(MODEL_VERSION_LABELS=f"stable={version}").test_client()
    x, _ = pixels
    answer = client.post(f"/v1/models/{SERVED_MODEL}/labels/stable:predict", json={"instances": x.tolist()})
    assert answer.status_code == 200
    np.testing.assert_allclose(answer.get_json()["predictions"], expected, atol=1e-6)
    answer = client.post(f"/v1/models/{SERVED_MODEL}/labels/stable:classify",
                         json={"examples": [{"images": x[0].tolist()}]})
    assert answer.status_code == 200
    status = client.get(f"/v1/models/{SERVED_MODEL}/labels/stable").get_json()["model_version_status"]
    assert [s["version"] for s in status] == [version]
    metadata = client.get(f"/v1/models/{SERVED_MODEL}/labels/stable/metadata").get_json()
    assert metadata["model_spec"]["version"] == version
    assert client.post("/predict?label=stable", json={"instances": x[:1].tolist()}).status_code == 200
