"""The pages through the test client: the form, the result page (answer, confidence cue, thumbnail, the
classes the model cannot answer) and every refusal in plain words with its HTTP status."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from emnist_contract.labels import BYCLASS_LABELS
from tests.support.model_versions import copy_served_version
from tests.support.paths import (
    SERVED_MODEL,
    case_twin_test_images,
    encode_image,
    labelled_test_images,
    served_version_dir,
)
from tests.support.photos import pen_photo


def post_file(client, content: bytes, name: str = "char.png", **fields):
    data = {"image": (io.BytesIO(content), name), **fields}
    return client.post("/", data=data, content_type="multipart/form-data")


def drawing_uri(pixels: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_image(pixels)).decode()


def canvas_drawing(image28: np.ndarray) -> np.ndarray:
    """What the page's canvas sends for a character: black strokes on white, 280x280."""
    return np.asarray(Image.fromarray(255 - image28).resize((280, 280)))


def predicted_character(page: str) -> str:
    match = re.search(r'<div class="prediction" id="prediction">(.*?)</div>', page)
    assert match, "no prediction on the page"
    return match.group(1)


def test_index_has_one_form_with_one_primary_action(client):
    answer = client.get("/")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert page.count("<form") == 1 and 'enctype="multipart/form-data"' in page
    assert page.count('type="submit"') == 1 and "Read the character" in page
    assert '<label for="image-input"' in page and 'id="image-input"' in page
    assert page.count("<h1>") == 1
    # The drawing panel needs the script: hidden until the script shows it, and a noscript hint.
    assert re.search(r'<section class="panel" id="draw-panel"[^>]*\bhidden\b', page)
    assert "<noscript>" in page
    for asset in ("draw.js", "live.js", "style.css"):
        assert asset in page and client.get(f"/static/{asset}").status_code == 200


def test_result_page(client, validation_images, onnx_reference):
    images, _ = validation_images
    png = encode_image(images[0])
    answer = post_file(client, png)
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    # The 28x28 upload is shown enlarged (a thumbnail of its own size) beside the input the model saw.
    assert 'class="original tiny"' in page and 'class="model-input"' in page
    assert page.count("data:image/png;base64,") == 2
    scores = onnx_reference(images[:1].reshape(1, -1) / 255.0)[0]
    order = np.argsort(-scores)
    assert predicted_character(page) == BYCLASS_LABELS[order[0]]
    assert f'id="probability">{scores[order[0]] * 100:.1f} %<' in page
    uncertain = scores[order[0]] < 0.5 or scores[order[0]] - scores[order[1]] < 0.3
    cue = re.search(r'<p class="cue (\w+)" id="confidence">(.*?)</p>', page)
    assert cue.group(1) == ("uncertain" if uncertain else "confident")
    assert cue.group(2).startswith("Uncertain" if uncertain else "Confident")
    assert len(re.findall(r"<li>", page.split('id="top-answers"')[1].split("</ol>")[0])) == 5
    bars = [int(b) for b in re.findall(r'class="bar w-(\d+)"', page)]
    assert len(bars) == 62 and bars == sorted(bars, reverse=True)
    assert f"model <strong>{SERVED_MODEL}</strong>" in page
    assert f"version <strong>{served_version_dir().name}</strong>" in page
    assert "less than 50 % or" in page and "less than 30 points" in page  # the cue's thresholds
    assert 'id="new-request"' in page


def test_a_big_photo_gives_a_small_result_page(client, validation_images):
    images, labels = validation_images
    photo = pen_photo(images[3], seed=3, size=(2000, 1500))
    as_png = io.BytesIO()
    Image.open(io.BytesIO(photo)).save(as_png, format="PNG")
    for upload, name in ((photo, "photo.jpg"), (as_png.getvalue(), "photo.png")):
        answer = post_file(client, upload, name)
        assert answer.status_code == 200
        page = answer.get_data()
        assert len(upload) > 200_000 and len(page) < 60_000, (name, len(upload), len(page))
        thumbnail = re.search(rb'class="original" src="data:(image/\w+);base64,([^"]+)"', page)
        shown = Image.open(io.BytesIO(base64.b64decode(thumbnail.group(2))))
        assert max(shown.size) == 320 and shown.size[0] > shown.size[1]  # the photo's shape, reduced


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


def test_the_drawing_or_the_file_whichever_the_source_names(client):
    two = next(path for path, label in labelled_test_images() if label == "2")
    a = next(path for path, label in labelled_test_images() if label == "A")
    drawing = drawing_uri(canvas_drawing(np.asarray(Image.open(two))))
    cases = [({"drawing": drawing}, None, "2"),  # the drawing alone
             ({"drawing": drawing, "source": "drawing"}, a, "2"),
             ({"drawing": drawing, "source": "file"}, a, "A"),
             ({"drawing": drawing}, a, "A")]  # no source named: the file
    for fields, file, expected in cases:
        data = dict(fields)
        if file is not None:
            data["image"] = (io.BytesIO(file.read_bytes()), file.name)
        answer = client.post("/", data=data, content_type="multipart/form-data")
        assert answer.status_code == 200
        page = answer.get_data(as_text=True)
        assert predicted_character(page) == expected, fields.get("source")
        heading = "your drawing" if expected == "2" else f"&ldquo;{a.name}&rdquo;"
        assert f"Result for {heading}" in page


def error_text(answer) -> str:
    page = answer.get_data(as_text=True)
    assert "Traceback" not in page
    match = re.search(r'<div class="error" role="alert" id="error-message" tabindex="-1">(.*?)</div>',
                      page, re.S)
    assert match, "no error message on the page"
    assert 'id="image-input"' in page  # the form is there again for a new try
    return match.group(1).strip().replace("&#34;", '"').replace("&#39;", "'")


BLANK = encode_image(np.full((120, 160), 250, np.uint8))


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"image": (b"shopping list", "notes.txt")}, 415,
         "“notes.txt” is not a picture the reader can open. Choose a photo or scan saved as PNG, JPEG, GIF, "
         "BMP or WebP."),
        ({"image": (b"", "empty.png")}, 415, "“empty.png” is empty (0 bytes). Choose another picture."),
        ({"image": (b"\x89PNG\r\n\x1a\nbroken", "broken.png")}, 415,
         "“broken.png” looks like a picture but is damaged or incomplete. Save it again or choose another."),
        ({"image": (BLANK, "blank.png")}, 400,
         "No character found in “blank.png”: the picture looks blank. Photograph one dark character on light "
         "paper (or a light one on dark), filling most of the picture."),
        ({"drawing": drawing_uri(np.full((280, 280), 255, np.uint8))}, 400,
         "No character found: the drawing is empty. Draw one character, then read it."),
        ({"drawing": "data:text/plain;base64,aGk="}, 400,
         "The drawing did not arrive in one piece. Please clear it and draw again."),
        ({}, 400, "Choose a picture or draw a character first, then press “Read the character”."),
        ({"image": (encode_image(np.eye(28, dtype=np.uint8) * 255), "x.png"), "model": "nope"}, 404,
         "The model “nope” is not available right now. Choose another model or try again later."),
    ],
    ids=["text", "empty", "damaged", "blank", "empty-drawing", "bad-drawing", "nothing", "unknown-model"],
)
def test_refusals_are_plain_words_on_the_page(client, data, status, message):
    fields = {key: (io.BytesIO(value[0]), value[1]) if key == "image" else value
              for key, value in data.items()}
    answer = client.post("/", data=fields, content_type="multipart/form-data")
    assert answer.status_code == status
    text = error_text(answer)
    assert text == message
    for jargon in (str(status), "Error", "b64", "MAX_", "data URI", "base64"):
        assert jargon not in text


def test_too_large_uploads_are_plain_words_on_the_page(make_app):
    client = make_app(MAX_CONTENT_LENGTH=10_000, MAX_IMAGE_PIXELS=100 * 100).test_client()
    noise = np.random.default_rng(1).integers(0, 255, (120, 120), dtype=np.uint8)
    answer = post_file(client, encode_image(noise))
    assert answer.status_code == 413
    assert error_text(answer) == (
        "This file is too large to send (the limit is 9 KB). Choose a smaller picture.")
    answer = post_file(client, encode_image(np.zeros((200, 200), np.uint8)))
    assert answer.status_code == 413
    assert error_text(answer) == (
        "This picture has too many pixels (the limit is 10,000 pixels). Choose a smaller one or crop it.")


def test_a_server_fault_is_a_plain_500_page(app, monkeypatch):
    service = app.extensions["inference_service"]

    def broken(*args, **kwargs):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(service, "scores", broken)
    answer = post_file(app.test_client(), encode_image(np.eye(28, dtype=np.uint8) * 255))
    assert answer.status_code == 500
    text = error_text(answer)
    assert text == "Something went wrong on the server (it has been logged). Please try again."
    assert "exploded" not in answer.get_data(as_text=True)


def test_unknown_page_is_a_404_page(client):
    answer = client.get("/nothing-here")
    assert answer.status_code == 404 and answer.mimetype == "text/html"
    assert error_text(answer) == "There is no page at this address. Use the form below to read a character."


def test_the_page_names_the_classes_the_model_cannot_answer(make_app, tmp_path, validation_images):
    images, _ = validation_images
    copy_served_version(tmp_path, list("JQXYZjqxyz"))
    client = make_app(MODEL_BASE_PATH=str(tmp_path)).test_client()
    page = client.get("/").get_data(as_text=True)
    assert "answers 52 of the 62 classes" in page and "J Q X Y Z j q x y z" in page
    page = post_file(client, encode_image(images[0])).get_data(as_text=True)
    assert '<span class="untrained-list" id="untrained-classes">J Q X Y Z j q x y z</span>' in page
    assert page.count('<tr class="untrained">') == 10


def test_an_answer_in_a_class_the_model_never_learned_is_flagged(make_app, tmp_path, validation_images):
    images, _ = validation_images
    answered = predicted_character(post_file(make_app().test_client(), encode_image(images[0])).get_data(
        as_text=True))
    copy_served_version(tmp_path, [answered])
    page = post_file(make_app(MODEL_BASE_PATH=str(tmp_path)).test_client(), encode_image(images[0])).get_data(
        as_text=True)
    assert f"&ldquo;{answered}&rdquo; is one of the classes this model" in page


def test_without_model_info_every_class_counts_as_learned(make_app, tmp_path, validation_images):
    images, _ = validation_images
    copy_served_version(tmp_path, None)
    client = make_app(MODEL_BASE_PATH=str(tmp_path)).test_client()
    assert "answers all 62 classes" in client.get("/").get_data(as_text=True)
    page = post_file(client, encode_image(images[0])).get_data(as_text=True)
    assert "It answers all 62 classes." in page and 'class="untrained"' not in page


def test_with_several_models_each_choice_says_what_it_cannot_answer(make_app, tmp_path, validation_images):
    from tests.support.paths import MODELS

    config = tmp_path / "models.config"
    config.write_text(
        # Version 1 of the bundled model has no training image of ten letters; the reference has all 62.
        f'model_config_list {{ config {{ name: "emnist" base_path: "{MODELS / "emnist"}" '
        'model_version_policy { specific { versions: 1 } } } '
        f'config {{ name: "reference" base_path: "{MODELS / "reference"}" }} }}', encoding="utf-8")
    client = make_app(MODEL_CONFIG_FILE=str(config), MODEL_NAME="emnist").test_client()
    page = client.get("/").get_data(as_text=True)
    options = re.findall(r'<option value="(\w+)" data-note="([^"]*)"\s*(selected)?', page)
    notes = {name: (note, bool(selected)) for name, note, selected in options}
    assert notes["emnist"][1] and not notes["reference"][1]
    assert "answers 52 of the 62 classes" in notes["emnist"][0]
    assert "answers all 62 classes" in notes["reference"][0]
    images, _ = validation_images
    page = post_file(client, encode_image(images[0]), model="reference").get_data(as_text=True)
    assert "model <strong>reference</strong>" in page and "It answers all 62 classes." in page
