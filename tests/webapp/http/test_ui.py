"""The pages: upload form and canvas, result page contents, and errors shown on the page with a 4xx."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from tests.support.paths import (
    SERVED_MODEL,
    case_twin_test_images,
    encode_image,
    labelled_test_images,
    served_version_dir,
)


def post_file(client, content: bytes, name: str = "char.png"):
    return client.post("/", data={"image": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def predicted_character(page: str) -> str:
    match = re.search(r'<div class="prediction" id="prediction">(.*?)</div>', page)
    assert match, "no prediction on the page"
    return match.group(1)


def test_index_has_upload_form_and_canvas(client):
    answer = client.get("/")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'method="post"' in page
    assert 'type="file" name="image"' in page
    assert '<canvas id="draw-canvas"' in page and 'id="clear-button"' in page and 'id="draw-submit"' in page
    assert "draw.js" in page and "<noscript>" in page
    assert client.get("/static/draw.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_result_page_shows_everything(client, validation_images):
    images, _ = validation_images
    png = encode_image(images[0])
    answer = post_file(client, png)
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    # the image as sent, inline (never stored), and the 28x28 input the model saw
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in page
    assert page.count("data:image/png;base64,") == 2
    assert 'class="model-input"' in page
    assert re.search(r'id="probability">\d+\.\d %<', page)
    assert len(re.findall(r"<li>", page.split('id="top5"')[1].split("</ol>")[0])) == 5
    bars = re.findall(r'class="bar" style="width: ([\d.]+)%"', page)
    assert len(bars) == 62
    assert [float(b) for b in bars] == sorted((float(b) for b in bars), reverse=True)
    assert f"model <strong>{SERVED_MODEL}</strong>" in page
    assert f"version <strong>{served_version_dir().name}</strong>" in page
    assert 'href="/"' in page and 'id="new-request"' in page


def test_every_test_image_through_the_ui(client):
    for path, label in labelled_test_images():
        answer = post_file(client, path.read_bytes(), path.name)
        assert answer.status_code == 200
        assert predicted_character(answer.get_data(as_text=True)) == label, path.name


def test_case_twins_through_the_ui(client):
    for path, read_as in case_twin_test_images():
        answer = post_file(client, path.read_bytes(), path.name)
        assert answer.status_code == 200
        assert predicted_character(answer.get_data(as_text=True)) == read_as, path.name


def test_drawing_is_read(client, validation_images):
    # The canvas sends black strokes on white as a PNG data URI in the hidden "drawing" field.
    images, labels = validation_images
    stroke = np.asarray(Image.fromarray(255 - images[0]).resize((280, 280)))
    uri = "data:image/png;base64," + base64.b64encode(encode_image(stroke)).decode()
    answer = client.post("/", data={"drawing": uri, "image": (io.BytesIO(b""), "")},
                         content_type="multipart/form-data")
    assert answer.status_code == 200
    assert "(drawing)" in answer.get_data(as_text=True)


def error_text(answer) -> str:
    page = answer.get_data(as_text=True)
    assert "Traceback" not in page
    pattern = r'role="alert" id="error-message">\s*<strong>(\d+):</strong>\s*(.*?)\s*</div>'
    match = re.search(pattern, page, re.S)
    assert match, "no error message on the page"
    assert int(match.group(1)) == answer.status_code
    assert 'type="file" name="image"' in page  # the form is there again for a new try
    return match.group(2)


def test_empty_drawing_is_an_error_on_the_page(client):
    blank = encode_image(np.full((280, 280), 255, np.uint8))
    uri = "data:image/png;base64," + base64.b64encode(blank).decode()
    answer = client.post("/", data={"drawing": uri})
    assert answer.status_code == 400
    assert "blank" in error_text(answer)


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [(b"hello", 415, "not an image"), (b"", 415, "empty"), (b"\x89PNG\r\n\x1a\nbroken", 415, "not an image")],
)
def test_bad_uploads_are_errors_on_the_page(client, content, status, message):
    answer = post_file(client, content)
    assert answer.status_code == status
    assert message in error_text(answer)


def test_nothing_submitted(client):
    answer = client.post("/", data={})
    assert answer.status_code == 400
    assert "choose an image file or draw" in error_text(answer)
    answer = client.post("/", data={"drawing": "data:text/plain;base64,aGk="})
    assert answer.status_code == 415


def test_too_large_uploads_are_errors_on_the_page(make_app):
    client = make_app(MAX_CONTENT_LENGTH=10_000, MAX_IMAGE_PIXELS=100 * 100).test_client()
    noise = np.random.default_rng(1).integers(0, 255, (120, 120), dtype=np.uint8)
    answer = post_file(client, encode_image(noise))
    assert answer.status_code == 413
    assert "MAX_CONTENT_LENGTH=10000" in error_text(answer)
    answer = post_file(client, encode_image(np.zeros((200, 200), np.uint8)))
    assert answer.status_code == 413
    assert "MAX_IMAGE_PIXELS=10000" in error_text(answer)


def test_unknown_page_is_404_html(client):
    answer = client.get("/nothing-here")
    assert answer.status_code == 404
    assert answer.mimetype == "text/html"
    error_text(answer)
