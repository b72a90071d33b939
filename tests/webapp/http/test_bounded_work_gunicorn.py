"""Amplifying uploads against the real server: huge decodes in parallel, many image files, the deadline."""

from __future__ import annotations

import base64
import io
import json
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.support.gunicorn import gunicorn_server
from tests.support.paths import SERVED_MODEL, encode_image

PREDICT = f"/v1/models/{SERVED_MODEL}:predict"
LIVENESS_S = 60.0


def huge_transparent_png() -> bytes:
    """A character drawn on a 6,300 x 6,300 transparent canvas: a small file, 39.7 megapixels."""
    image = Image.new("RGBA", (6300, 6300), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(1900, 1300), (3150, 5000), (4400, 1300)], fill=(0, 0, 0, 255), width=250)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_parallel_huge_decodes_and_many_image_files_leave_the_worker_serving(tmp_path):
    png = huge_transparent_png()
    with gunicorn_server(tmp_path, workers=1) as server:
        pid = server.worker_pids()
        answers: list[tuple[int, dict]] = []

        def upload() -> None:
            status, _, body = server.request("POST", "/predict", png, {"Content-Type": "image/png"},
                                             LIVENESS_S)
            answers.append((status, json.loads(body)))

        threads = [threading.Thread(target=upload) for _ in range(4)]
        for thread in threads:
            thread.start()
        health = server.request("GET", "/healthz", timeout=LIVENESS_S)  # while the four decode
        for thread in threads:
            thread.join(LIVENESS_S)
        assert health[0] == 200
        assert [status for status, _ in answers] == [200] * 4, answers
        assert len({answer["results"][0]["label"] for _, answer in answers}) == 1
        stroke = np.zeros((20, 20), np.uint8)
        stroke[4:16, 9:12] = 255
        tiny = base64.b64encode(encode_image(stroke)).decode()
        many = json.dumps({"instances": [{"b64": tiny}] * 1024}).encode()
        status, _, body = server.request("POST", PREDICT, many, {"Content-Type": "application/json"},
                                         LIVENESS_S)
        assert (status, json.loads(body)) == (400, {
            "error": "1024 image files in one request is over the limit MAX_DECODED_IMAGES=64 (send raw "
                     "pixels or .npy for larger batches)"})
        assert server.worker_pids() == pid  # the same worker: nothing took it down


@pytest.mark.slow
def test_the_deadline_answers_json_through_gunicorn(tmp_path):
    """200 image files of real work (MAX_DECODED_IMAGES raised for it) cannot finish in 0.3 s."""
    page = Image.new("L", (640, 480), 230)
    ImageDraw.Draw(page).line([(250, 100), (320, 380), (390, 100)], fill=30, width=12)
    photo = io.BytesIO()
    page.save(photo, format="JPEG")
    instance = {"b64": base64.b64encode(photo.getvalue()).decode()}
    env = {"EMNIST_REQUEST_DEADLINE_SECONDS": "0.3", "EMNIST_MAX_DECODED_IMAGES": "200"}
    with gunicorn_server(tmp_path, workers=1, env=env) as server:
        body = json.dumps({"instances": [instance] * 200}).encode()
        status, headers, body = server.request("POST", PREDICT, body, {"Content-Type": "application/json"},
                                               LIVENESS_S)
        assert status in (503, 504) and headers["content-type"] == "application/json"
        assert "REQUEST_DEADLINE_SECONDS=0.3 s" in json.loads(body)["error"]
        assert server.request("GET", "/healthz")[0] == 200
