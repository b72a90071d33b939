"""The README's limits table and docs/serving-api.md quote refusals and bounds: each quoted one is what the
app does, read from the documents themselves so that neither can drift from the code unnoticed."""

from __future__ import annotations

import io
import re
import struct
import zlib

import numpy as np
import pytest

from serving_core.service import PIXEL_VALUE_LIMIT
from tests.support.paths import REPO, SERVED_MODEL, TEST_IMAGES, encode_image

SERVING_API = (REPO / "docs" / "serving-api.md").read_text(encoding="utf-8")
TF_PREDICT = f"/v1/models/{SERVED_MODEL}:predict"


def readme_limit_rows() -> list[list[str]]:
    """The cells of every row of the README's limits table."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Limits\n", 1)[1].split("\n## ", 1)[0]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| what |")]


def readme_limit_row(what: str) -> list[str]:
    """The row whose first cell starts with ``what``."""
    rows = [row for row in readme_limit_rows() if row[0].startswith(what)]
    assert len(rows) == 1, f"no single row for {what!r} in the README's limits table"
    return rows[0]


def readme_limit_row_by_name(limit: str) -> list[str]:
    """The row whose limit cell is ``limit``."""
    rows = [row for row in readme_limit_rows() if row[1] == f"`{limit}`"]
    assert len(rows) == 1, f"no single row for {limit} in the README's limits table"
    return rows[0]


def quoted(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def image_with(value: float, pixels) -> list[list[float]]:
    """A real validation image (pixels/255) with its first pixel set to ``value``."""
    image = pixels[0][0].astype(np.float64).copy()
    image[0] = value
    return [image.tolist()]


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def pixel_row() -> list[str]:
    return readme_limit_row("a pixel value")


def test_the_pixel_row_states_the_limit_the_code_holds(pixel_row):
    low, high = map(float, re.match(r"(-?\d+) to (\d+)", pixel_row[2]).groups())
    assert (low, high) == (-PIXEL_VALUE_LIMIT, PIXEL_VALUE_LIMIT)
    assert pixel_row[3].startswith("400")


WITHIN = [(2.0, "pixel_range"), (255, "pixel_range"), (-1, "negative_values"), (-255, "negative_values")]


@pytest.mark.parametrize(("value", "warning"), WITHIN)
def test_values_within_the_pixel_row_are_answered_with_the_warning_it_names(client, pixels, pixel_row, value,
                                                                             warning):
    assert f"`{warning}`" in pixel_row[2]
    response = client.post("/predict", json={"instances": image_with(value, pixels)})
    assert response.status_code == 200, response.get_json()
    assert warning in [found["code"] for found in response.get_json()["results"][0]["warnings"]]
    assert client.post(TF_PREDICT, json={"instances": image_with(value, pixels)}).status_code == 200


@pytest.mark.parametrize("route", ["/predict", TF_PREDICT, f"/v2/models/{SERVED_MODEL}/infer"])
def test_a_value_beyond_the_pixel_row_is_refused_with_the_message_it_quotes(client, pixels, pixel_row, route):
    message = quoted(pixel_row[3])[0]
    value = float(re.match(r"instance 0: (\S+) is no pixel value", message)[1])
    assert value > PIXEL_VALUE_LIMIT
    for sent in (value, -value):
        image = image_with(sent, pixels)
        body = ({"inputs": [{"name": "images", "shape": [1, 784], "datatype": "FP32", "data": image[0]}]}
                if route.startswith("/v2/") else {"instances": image})
        response = client.post(route, json=body)
        assert response.status_code == 400
        assert response.get_json()["error"] == message.replace(f"0: {value:g}", f"0: {sent:g}")


def test_the_json_value_row_quotes_the_real_refusal(client):
    message = quoted(readme_limit_row("a JSON value")[3])[0]
    response = client.post(TF_PREDICT, json={"instances": [[0.5, "0.5"]]})
    assert (response.status_code, response.get_json()["error"]) == (400, message)


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` greyscale pixels and holds none."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _upload(name: str, data: bytes) -> dict:
    return {"upload": (name, data)}


_A = (TEST_IMAGES / "A_upper_0.png").read_bytes()
_BLANK = encode_image(np.zeros((40, 40), np.uint8))
_ZEROS = [0] * 783
#: Each message docs/serving-api.md quotes -> (method, path, request keywords, the status it states).
DOCUMENTED = {
    'JSON Value: "0.5" Type: String is not of expected type: float':
        ("POST", TF_PREDICT, {"json": {"instances": [[0.5, "0.5"]]}}, 400),
    "Cannot convert JSON value: 1e+39 to float without loss of precision.":
        ("POST", TF_PREDICT, {"data": '{"instances": [[1e39' + ",0" * 783 + "]]}",
                              "content_type": "application/json"}, 400),
    "instance 3: 256 is no pixel value: the model reads pixels/255 in [0, 1] (white ink on black)":
        ("POST", TF_PREDICT, {"json": {"instances": [[0] * 784] * 3 + [[256, *_ZEROS]]}}, 400),
    "instance 0: 256 is no pixel value: the model reads pixels/255 in [0, 1] (white ink on black)":
        ("POST", "/predict", {"json": {"instances": [[256, *_ZEROS]]}}, 400),
    "Servable not found for request: Latest(nope)":
        ("POST", "/v1/models/nope:predict", {"json": {"instances": [[0] * 784]}}, 404),
    f"Could not find version 7 of model {SERVED_MODEL}":
        ("GET", f"/v1/models/{SERVED_MODEL}/versions/7", {}, 404),
    "file 'notes.txt': 13 bytes of text that are neither an image file (PNG, JPEG, GIF, BMP, WebP), a .npy\n"
    "array, 3136 bytes of float32 pixels nor 784 bytes of uint8 pixels":
        ("POST", "/predict", _upload("notes.txt", b"some notes.\n\n"), 415),
    "file 'cut.png': the image file\nis damaged or truncated: image file is truncated":
        ("POST", "/predict", _upload("cut.png", _A[: len(_A) // 2]), 415),
    "file 'empty.png': empty (0 bytes)": ("POST", "/predict", _upload("empty.png", b""), 400),
    "image of 8000x6000 = 48000000 pixels is over the limit MAX_IMAGE_PIXELS=40000000":
        ("POST", "/predict", {"data": _png_header(8000, 6000), "content_type": "image/png"}, 413),
    "no character found: the image is blank (no ink)":
        ("POST", "/predict", {"data": _BLANK, "content_type": "image/png"}, 400),
}


@pytest.mark.parametrize("message", DOCUMENTED, ids=lambda message: message.split(":")[0][:40])
def test_each_message_serving_api_quotes_is_the_apps(client, message):
    """The page quotes it (wrapped as it is there), and the app answers it with the status stated."""
    assert f"`{message}`" in SERVING_API
    method, path, keywords, status = DOCUMENTED[message]
    if "upload" in keywords:  # a fresh file object for each run
        name, data = keywords["upload"]
        keywords = {"data": {"image": (io.BytesIO(data), name)}}
    response = client.open(path, method=method, **keywords)
    assert response.status_code == status
    error, message = response.get_json()["error"], message.replace("\n", " ")
    assert error == message or error == f"body: {message}", error  # a raw body is named "body"


def _form(*parts: tuple[str, bytes]) -> dict:
    return {"upload_parts": parts}


_TINY = encode_image(np.full((28, 28), 200, np.uint8))
#: Each request limit of the README's table -> (a small value, a request just beyond it).
BEYOND = {
    "MAX_CONTENT_LENGTH": (1000, ("POST", TF_PREDICT, {"json": {"instances": [[0] * 784]}})),
    "MAX_INSTANCES": (2, ("POST", TF_PREDICT, {"json": {"instances": [[0] * 784] * 3}})),
    "MAX_DECODED_IMAGES": (1, ("POST", "/predict", _form(("a.png", _TINY), ("b.png", _TINY)))),
    "MAX_IMAGE_PIXELS": (1000, ("POST", "/predict", _form(("big.png", _BLANK)))),  # 40x40, refused unread
    "MAX_DECODED_PIXELS": (1000, ("POST", "/predict", _form(("a.png", _A), ("b.png", _A)))),
    "MAX_FORM_PARTS": (2, ("POST", "/predict", _form(("a.png", _TINY), ("b.png", _TINY), ("c.png", _TINY)))),
    "MAX_FORM_MEMORY_SIZE": (100, ("POST", "/predict", _form(("a" * 200 + ".png", _TINY)))),
}


@pytest.mark.parametrize("key", BEYOND)
def test_each_request_limit_refuses_with_the_status_the_readme_gives_and_names_itself(make_app, key):
    status = int(re.match(r"\d{3}", readme_limit_row_by_name(f"EMNIST_{key}")[3])[0])
    value, (method, path, keywords) = BEYOND[key]
    if "upload_parts" in keywords:
        keywords = {"data": {"image": [(io.BytesIO(data), name) for name, data in keywords["upload_parts"]]}}
    response = make_app(**{key: value}).test_client().open(path, method=method, **keywords)
    assert response.status_code == status, response.get_json()
    assert key in response.get_json()["error"]

