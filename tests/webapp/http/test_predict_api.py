"""POST /predict (JSON, binary and multipart uploads), /healthz and /readyz, and their errors."""

from __future__ import annotations

import base64
import io
import json
import shutil

import numpy as np
import pytest

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from emnist_contract.tensors import NUM_PIXELS
from tests.support.paths import (
    SERVED_MODEL,
    case_twin_test_images,
    encode_image,
    labelled_test_images,
    served_version_dir,
)


def upload(client, files: list[tuple[str, bytes, str]], query: str = ""):
    data = {}
    for field, content, name in files:
        data.setdefault(field, []).append((io.BytesIO(content), name))
    return client.post("/predict" + query, data=data, content_type="multipart/form-data")


def check_result(result: dict, k: int = 5) -> None:
    assert set(result) >= {"label", "class_id", "probability", "top_k"}
    assert len(result["top_k"]) == k
    assert result["top_k"][0]["label"] == result["label"]
    assert result["top_k"][0]["probability"] == pytest.approx(result["probability"])
    probabilities = [entry["probability"] for entry in result["top_k"]]
    assert probabilities == sorted(probabilities, reverse=True)


def test_json_instances(client, validation_images):
    images, labels = validation_images
    x = images[:4].reshape(-1, NUM_PIXELS) / 255.0
    answer = client.post("/predict", data=json.dumps({"instances": x.tolist()}))
    assert answer.status_code == 200
    body = answer.get_json()
    assert np.asarray(body["predictions"]).shape == (4, NUM_CLASSES)
    assert body["model_spec"]["name"] == SERVED_MODEL
    assert body["model_spec"]["version"] == served_version_dir().name
    assert body["model_spec"]["engine"] == "onnxruntime"
    for result, scores in zip(body["results"], body["predictions"], strict=True):
        check_result(result)
        assert result["class_id"] == int(np.argmax(scores))


def test_every_test_image_as_a_multipart_upload(client):
    items = labelled_test_images()
    answer = upload(client, [("image", path.read_bytes(), path.name) for path, _ in items])
    assert answer.status_code == 200, answer.get_json()
    results = answer.get_json()["results"]
    assert [r["file"] for r in results] == [path.name for path, _ in items]
    assert [r["label"] for r in results] == [label for _, label in items]
    for result in results:
        check_result(result)


def test_case_twins_answer_the_other_case_in_both_apis(client):
    # Lowercase c, m, o, p, s and u are classes the model knows (it trained on them) but mostly answers
    # in upper case.
    items = case_twin_test_images()
    assert [path.name[0] for path, _ in items] == list("cmopsu")
    answer = upload(client, [("image", path.read_bytes(), path.name) for path, _ in items])
    assert answer.status_code == 200, answer.get_json()
    assert [r["label"] for r in answer.get_json()["results"]] == [read_as for _, read_as in items]
    instances = [{"b64": base64.b64encode(path.read_bytes()).decode()} for path, _ in items]
    answer = client.post(f"/v1/models/{SERVED_MODEL}:predict", json={"instances": instances})
    assert answer.status_code == 200, answer.get_json()
    answered = [BYCLASS_LABELS[int(np.argmax(row))] for row in answer.get_json()["predictions"]]
    assert answered == [read_as for _, read_as in items]
    assert all(a.lower() == path.name[0] for a, (path, _) in zip(answered, items, strict=True))


def test_several_file_fields_and_top_k(client, validation_images):
    images, _ = validation_images
    files = [("first", encode_image(images[0]), "a.png"),
             ("second", encode_image(images[1], "JPEG"), "b.jpg")]
    answer = upload(client, files, "?top_k=3")
    assert answer.status_code == 200
    results = answer.get_json()["results"]
    assert [r["file"] for r in results] == ["a.png", "b.jpg"]
    for result in results:
        check_result(result, k=3)


def test_binary_bodies(client, validation_images):
    images, _ = validation_images
    buffer = io.BytesIO()
    np.save(buffer, images[:3])
    answer = client.post("/predict", data=buffer.getvalue(), content_type="application/x-npy")
    assert answer.status_code == 200 and len(answer.get_json()["results"]) == 3
    answer = client.post("/predict", data=encode_image(images[0]), content_type="image/png")
    assert answer.status_code == 200 and len(answer.get_json()["results"]) == 1


def test_version_query(client, validation_images):
    x = validation_images[0][:1].reshape(1, -1) / 255.0
    answer = client.post(f"/predict?version={served_version_dir().name}", json={"instances": x.tolist()})
    assert answer.status_code == 200
    answer = client.post("/predict?version=999", json={"instances": x.tolist()})
    assert answer.status_code == 404
    assert "Specific" in answer.get_json()["error"]
    answer = client.post("/predict?model=nope", json={"instances": x.tolist()})
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [("?top_k=0", "top_k must be between 1 and 62"), ("?top_k=x", "top_k must be an integer"),
     ("?version=-1", "version must be at least 0")],
)
def test_bad_query_parameters(client, query, message):
    answer = client.post("/predict" + query, json={"instances": [[0.0] * NUM_PIXELS]})
    assert answer.status_code == 400
    assert message in answer.get_json()["error"]


def test_upload_errors(client):
    answer = client.post("/predict", data={"note": "hello"}, content_type="multipart/form-data")
    assert answer.status_code == 400 and "without a file" in answer.get_json()["error"]
    answer = upload(client, [("image", b"GIF89a broken", "x.gif")])
    assert answer.status_code == 415 and "x.gif" in answer.get_json()["error"]
    answer = upload(client, [("image", b"plain text", "notes.txt")])
    assert answer.status_code == 415
    blank = encode_image(np.full((100, 100), 255, np.uint8))
    answer = upload(client, [("image", blank, "blank.png")])
    assert answer.status_code == 400 and "blank" in answer.get_json()["error"]


def test_upload_limits(make_app, validation_images):
    images, _ = validation_images
    app = make_app(MAX_INSTANCES=2, MAX_IMAGE_PIXELS=50 * 50, MAX_CONTENT_LENGTH=30_000)
    client = app.test_client()
    answer = upload(client, [("image", encode_image(images[i]), f"{i}.png") for i in range(3)])
    assert answer.status_code == 400 and "MAX_INSTANCES=2" in answer.get_json()["error"]
    answer = upload(client, [("image", encode_image(np.zeros((60, 60), np.uint8)), "big.png")])
    assert answer.status_code == 413 and "MAX_IMAGE_PIXELS=2500" in answer.get_json()["error"]
    noise = np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)
    answer = upload(client, [("image", encode_image(noise), "noise.png")])
    assert answer.status_code == 413 and "MAX_CONTENT_LENGTH=30000" in answer.get_json()["error"]
    batch = io.BytesIO()
    np.save(batch, images[:3])
    answer = upload(client, [("image", batch.getvalue(), "three.npy")])  # one file, three images
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "3 instances in one request is over the limit MAX_INSTANCES=2"


def test_healthz(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.get_json() == {"status": "ok"}


def test_readyz(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200
    expected = {"status": "ready", "model": SERVED_MODEL, "version": served_version_dir().name}
    assert answer.get_json() == expected


def test_readyz_without_a_model_and_healthz_still_up(make_app, tmp_path):
    (tmp_path / SERVED_MODEL).mkdir()
    app = make_app(MODEL_BASE_PATH=str(tmp_path))
    client = app.test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.get_json()["status"] == "not ready"
    assert client.get("/healthz").status_code == 200
    answer = client.post("/predict", json={"instances": [[0.0] * NUM_PIXELS]})
    assert answer.status_code == 404
    # once a version is published and the registry rescans, the app is ready
    shutil.copytree(served_version_dir(), tmp_path / SERVED_MODEL / "1")
    app.extensions["serving_core"].watcher.poll_once()
    assert client.get("/readyz").status_code == 200
