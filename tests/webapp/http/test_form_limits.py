"""Multipart forms: Werkzeug's part-count and field-size limits are named when they refuse a form."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.paths import encode_image

BOUNDARY = "form-boundary"
FORM = f"multipart/form-data; boundary={BOUNDARY}"


def form(parts: list[tuple[str, str | None, bytes]]) -> bytes:
    """A multipart body of (field name, file name or None, content) parts."""
    chunks = []
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n"
        chunks.append(head.encode() + content + b"\r\n")
    return b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()


def png() -> bytes:
    pixels = np.zeros((40, 40), np.uint8)
    pixels[8:32, 18:22] = 255
    return encode_image(pixels)


@pytest.mark.parametrize("route", ["/predict", "/"])
def test_too_many_parts_names_max_form_parts(client, route):
    body = form([("image", "c.png", png())] + [(f"f{i}", None, b"x") for i in range(1000)])
    answer = client.post(route, data=body, content_type=FORM)
    assert answer.status_code == 413
    if route == "/predict":
        assert answer.get_json() == {"error": "the form has 1001 parts, over the limit MAX_FORM_PARTS=1000"}
    else:  # the page's plain words
        assert "too many fields, or too long a file name" in answer.get_data(as_text=True)


@pytest.mark.parametrize("route", ["/predict", "/"])
def test_a_huge_file_name_names_max_form_memory_size(client, route):
    body = form([("image", "a" * 2_000_000 + ".png", png())])
    answer = client.post(route, data=body, content_type=FORM)
    assert answer.status_code == 413
    if route == "/predict":
        text = answer.get_json()["error"]
        assert "larger than the limit MAX_FORM_MEMORY_SIZE=500000 bytes" in text
        assert "MAX_CONTENT_LENGTH=" not in text
    else:
        assert "too many fields, or too long a file name" in answer.get_data(as_text=True)


def test_the_form_limits_are_settings(make_app):
    client = make_app(MAX_FORM_PARTS=3, MAX_FORM_MEMORY_SIZE=1000).test_client()
    few = form([("image", "c.png", png())] + [(f"f{i}", None, b"x") for i in range(3)])
    assert "MAX_FORM_PARTS=3" in client.post("/predict", data=few, content_type=FORM).get_json()["error"]
    named = form([("image", "b" * 2000 + ".png", png())])
    refusal = client.post("/predict", data=named, content_type=FORM).get_json()["error"]
    assert "MAX_FORM_MEMORY_SIZE=1000" in refusal
    ok = client.post("/predict", data=form([("image", "c.png", png())]), content_type=FORM)
    assert ok.status_code == 200 and ok.get_json()["results"][0]["file"] == "c.png"
