"""What a ``/predict`` answer says beyond the scores: the confidence cue, input warnings for pixels that
do not look like the model's, the classes the version cannot answer, and clear refusals of bodies that
are no image (with or without a Content-Type)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from emnist_contract.labels import BYCLASS_LABELS
from emnist_contract.tensors import NUM_PIXELS
from tests.support.model_versions import copy_served_version
from tests.support.paths import encode_image, labelled_test_images


def instances(client, images: np.ndarray):
    answer = client.post("/predict", data=json.dumps({"instances": images.tolist()}),
                         content_type="application/json")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def warning_codes(result: dict) -> list[str]:
    return [warning["code"] for warning in result.get("warnings", [])]


def test_inputs_like_the_models_get_no_warning(client, validation_images):
    images, _ = validation_images
    body = instances(client, images[:64].reshape(-1, NUM_PIXELS) / 255.0)
    assert all("warnings" not in result for result in body["results"])
    files = {"image": [(io.BytesIO(path.read_bytes()), path.name) for path, _ in labelled_test_images()[:8]]}
    answer = client.post("/predict", data=files, content_type="multipart/form-data")
    assert all("warnings" not in result for result in answer.get_json()["results"])


@pytest.mark.parametrize(
    ("transform", "codes"),
    [
        (lambda x: x, ["pixel_range"]),  # 0-255, not divided by 255
        (lambda x: 1.0 - x / 255.0, ["dark_on_light"]),  # black ink on white floats
        (lambda x: 255.0 - x, ["pixel_range", "dark_on_light"]),
        (lambda x: (x / 255.0 - 0.1307) / 0.3081, ["pixel_range", "negative_values"]),  # standardised
        (lambda x: np.zeros_like(x, dtype=np.float64), ["blank"]),
    ],
    ids=["0-255", "dark-on-light", "0-255-dark-on-light", "standardised", "blank"],
)
def test_inputs_unlike_the_models_are_answered_with_a_warning(client, validation_images, transform, codes):
    images, _ = validation_images
    pixels = images[:3].reshape(-1, NUM_PIXELS).astype(np.float64)
    body = instances(client, transform(pixels))
    assert len(body["predictions"]) == 3  # still answered, as TF Serving would
    for result in body["results"]:
        assert warning_codes(result) == codes
        assert all(warning["message"] for warning in result["warnings"])


def test_only_the_odd_image_of_a_batch_is_warned_about(client, validation_images):
    images, _ = validation_images
    pixels = images[:3].reshape(-1, NUM_PIXELS) / 255.0
    pixels[1] *= 255.0
    results = instances(client, pixels)["results"]
    assert [warning_codes(result) for result in results] == [[], ["pixel_range"], []]
    assert "up to 255" in results[1]["warnings"][0]["message"]


def test_the_confidence_cue_follows_the_scores(client, validation_images):
    images, _ = validation_images
    body = instances(client, images[:256].reshape(-1, NUM_PIXELS) / 255.0)
    scores = np.sort(np.asarray(body["predictions"]), axis=1)
    low = scores[:, -1] < 0.5
    close = ~low & (scores[:, -1] - scores[:, -2] < 0.3)
    flags = [result["uncertain"] for result in body["results"]]
    assert flags == (low | close).tolist()
    assert 0 < sum(flags) < len(flags)  # both kinds occur in the sample
    reasons = [result.get("uncertain_reason") for result in body["results"]]
    expected = ["low_probability" if is_low else "close_runner_up" if is_close else None
                for is_low, is_close in zip(low, close, strict=True)]
    assert reasons == expected


def test_the_classes_the_version_cannot_answer(make_app, tmp_path, validation_images):
    images, _ = validation_images
    pixels = images[:8].reshape(-1, NUM_PIXELS) / 255.0
    answered = sorted({result["label"] for result in instances(make_app().test_client(), pixels)["results"]})
    untrained = ["Q", answered[0]]
    copy_served_version(tmp_path, untrained)
    body = instances(make_app(MODEL_BASE_PATH=str(tmp_path)).test_client(), pixels)
    assert body["classes_without_training_images"] == sorted(untrained, key=BYCLASS_LABELS.index)
    for result in body["results"]:
        assert result["learned"] == (result["label"] not in untrained)
        assert [entry["learned"] for entry in result["top_k"]] == [
            entry["label"] not in untrained for entry in result["top_k"]]


def test_a_version_without_model_info_has_learned_every_class(make_app, tmp_path):
    copy_served_version(tmp_path, None)
    body = instances(make_app(MODEL_BASE_PATH=str(tmp_path)).test_client(), np.eye(1, NUM_PIXELS))
    assert body["classes_without_training_images"] == []
    assert body["results"][0]["learned"] is True


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_an_image_body_is_read_whatever_its_content_type_says(client, content_type):
    path, label = labelled_test_images()[0]
    answer = client.post("/predict", data=path.read_bytes(), content_type=content_type)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["results"][0]["label"] == label


def test_a_binary_body_that_is_no_image_gets_a_clear_message(client):
    answer = client.post("/predict", data=bytes(range(256)) * 3)
    assert answer.status_code == 415
    error = answer.get_json()["error"]
    assert error.startswith("body: 768 bytes of data that are neither an image file (PNG, JPEG, GIF, BMP")
    assert "JSON" not in error and "UTF-8" not in error


def test_uploads_that_are_no_image_are_named_precisely(client):
    files = {"image": [(io.BytesIO(b"shopping list"), "notes.txt")]}
    error = client.post("/predict", data=files, content_type="multipart/form-data").get_json()["error"]
    assert error == ("file 'notes.txt': 13 bytes of text that are neither an image file (PNG, JPEG, GIF, "
                     "BMP, WebP), a .npy array, 3136 bytes of float32 pixels nor 784 bytes of uint8 pixels")
    files = {"image": [(io.BytesIO(b""), "empty.png")]}
    answer = client.post("/predict", data=files, content_type="multipart/form-data")
    assert answer.status_code == 400 and answer.get_json()["error"] == "file 'empty.png': empty (0 bytes)"
    files = {"image": [(io.BytesIO(encode_image(np.eye(40, dtype=np.uint8))[:60]), "cut.png")]}
    answer = client.post("/predict", data=files, content_type="multipart/form-data")
    assert answer.status_code == 415
    assert answer.get_json()["error"].startswith("file 'cut.png': the image file is damaged or truncated")


def test_api_messages_carry_no_python_names(client):
    bodies = [b"hello", b"\x89PNG\r\n\x1a\nbroken", b"GIF89a?", bytes(range(256))]
    for body in bodies:
        answer = client.post("/predict", data=body, content_type="application/octet-stream")
        error = answer.get_json()["error"]
        for name in ("Error", "Exception", "b64", "surrogates"):
            assert name not in error, (body, error)
