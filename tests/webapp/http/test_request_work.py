"""The work of one request is bounded on every route: image files per request, their pixels, its deadline."""

from __future__ import annotations

import base64
import io
import json
import time

import numpy as np
import pytest

from serving_core.payloads.limits import RequestBudget
from tests.support.paths import SERVED_MODEL, encode_image
from webapp.http.request_body import ARRIVED

PREDICT = f"/v1/models/{SERVED_MODEL}:predict"
JSON = "application/json"


def character_png(side: int = 40) -> bytes:
    pixels = np.zeros((side, side), np.uint8)
    pixels[side // 5 : -side // 5, side // 2 - 2 : side // 2 + 2] = 255
    return encode_image(pixels)


def b64_images(count: int) -> bytes:
    png = base64.b64encode(character_png()).decode()
    return json.dumps({"instances": [{"b64": png}] * count}).encode()


def multipart(count: int) -> dict:
    return {"image": [(io.BytesIO(character_png()), f"c{i}.png") for i in range(count)]}


@pytest.fixture(scope="module")
def clients(make_module_app):
    fast = make_module_app(MAX_DECODED_IMAGES=3, MAX_DECODED_PIXELS=5000).test_client()
    flask_only = make_module_app(MAX_DECODED_IMAGES=3, MAX_DECODED_PIXELS=5000,
                                 FAST_PREDICT_PATH=False).test_client()
    return fast, flask_only


def test_image_files_per_request_are_capped_on_every_route(clients):
    fast, flask_only = clients
    answers = [fast.post(PREDICT, data=b64_images(4), content_type=JSON),
               flask_only.post(PREDICT, data=b64_images(4), content_type=JSON),
               fast.post("/predict", data=b64_images(4), content_type=JSON),
               fast.post("/predict", data=multipart(4), content_type="multipart/form-data")]
    expected = {"error": "4 image files in one request is over the limit MAX_DECODED_IMAGES=3 (send raw "
                         "pixels or .npy for larger batches)"}
    assert [(a.status_code, a.get_json()) for a in answers] == [(400, expected)] * 4
    assert answers[0].get_data() == answers[1].get_data()
    assert fast.post(PREDICT, data=b64_images(3), content_type=JSON).status_code == 200


def test_the_pixels_of_a_requests_image_files_are_capped(clients):
    fast, flask_only = clients
    three = json.dumps({"instances": [{"b64": base64.b64encode(character_png(50)).decode()}] * 3}).encode()
    answers = [client.post(PREDICT, data=three, content_type=JSON) for client in (fast, flask_only)]
    assert [a.status_code for a in answers] == [413, 413]
    assert answers[0].get_data() == answers[1].get_data()
    assert answers[0].get_json() == {"error": "the request's image files decode to 7500 pixels or more, "
                                              "over the limit MAX_DECODED_PIXELS=5000 per request"}


ROUTES = [(PREDICT, "fast"), (PREDICT, "flask"), ("/predict", "fast")]


@pytest.mark.parametrize(("route", "path"), ROUTES)
def test_a_request_that_waited_past_its_deadline_is_503(clients, route, path):
    client = clients[0] if path == "fast" else clients[1]
    answer = client.post(route, data=b64_images(1), content_type=JSON,
                         environ_base={ARRIVED: time.monotonic() - 60})
    assert answer.status_code == 503
    assert answer.get_json() == {"error": "the server is busy: the request waited "
                                          "REQUEST_DEADLINE_SECONDS=10 s without starting; retry later"}


@pytest.mark.parametrize(("route", "path"), ROUTES)
def test_a_request_that_runs_out_of_time_is_504(clients, route, path, monkeypatch):
    """It started in time (its budget is made as started) but its deadline is gone by its next step: the
    service's first (TF Serving's routes decode once the version is pinned), or /predict's first image."""
    make_budget = RequestBudget.__init__

    def started(self: RequestBudget, *args: object) -> None:
        make_budget(self, *args)
        self.started = True

    monkeypatch.setattr(RequestBudget, "__init__", started)
    client = clients[0] if path == "fast" else clients[1]
    answer = client.post(route, data=b64_images(1), content_type=JSON,
                         environ_base={ARRIVED: time.monotonic() - 60})
    step = "decoding image file 1" if route == "/predict" else "pinning the model version"
    assert answer.status_code == 504
    assert answer.get_json() == {"error": "the request did not finish within REQUEST_DEADLINE_SECONDS=10 s "
                                          f"(stopped before {step})"}


def test_the_page_answers_an_expired_deadline_on_the_page(client):
    answer = client.post("/", data={"image": (io.BytesIO(character_png()), "c.png")},
                         content_type="multipart/form-data", environ_base={ARRIVED: time.monotonic() - 60})
    assert answer.status_code == 503 and answer.mimetype == "text/html"
    assert "The reader is busy right now. Please try again in a moment." in answer.get_data(as_text=True)


def test_a_batch_larger_than_one_model_call_gives_the_models_scores(client, onnx_reference):
    """600 images run as parts of 256 and come back joined, in order."""
    images = np.random.default_rng(3).random((600, 784), dtype=np.float32)
    buffer = io.BytesIO()
    np.save(buffer, images)
    answer = client.post(PREDICT, data=buffer.getvalue(), content_type="application/x-npy")
    assert answer.status_code == 200
    np.testing.assert_allclose(answer.get_json()["predictions"], onnx_reference(images), atol=1e-5)
