"""The pages: ``GET /`` (upload a file or draw a character) and ``POST /`` (the result page).

Uploads stay in memory: the result page shows the image as sent and the 28x28 input the model saw as
``data:`` URIs. Works without JavaScript (plain multipart form); the canvas needs it.
"""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, current_app, render_template, request

from emnist_contract.labels import class_group
from serving_core.errors import InvalidArgumentError, ServingError
from serving_core.preprocessing import (
    NotAnImageError,
    data_uri,
    image_mime_type,
    open_image,
    png_bytes,
    preprocess_image,
)
from serving_core.service import ModelSpec
from webapp.http.context import request_limits, serving

blueprint = Blueprint("ui", __name__)

DRAWING_PREFIX = "data:image/png;base64,"
GROUP_NAMES = {"digit": "digit", "uppercase": "uppercase letter", "lowercase": "lowercase letter"}


def model_choices() -> list[str]:
    try:
        return serving().model_names()
    except ServingError:
        return []


@blueprint.route("/", methods=["GET"])
def index() -> str:
    return render_template(
        "img_upload.html", models=model_choices(), default_model=current_app.config["MODEL_NAME"]
    )


def submitted_image() -> tuple[bytes, str]:
    """The uploaded file's bytes, or the canvas drawing's PNG; and where it came from."""
    upload = request.files.get("image")
    if upload is not None and upload.filename:
        data = upload.read()
        if not data:
            raise NotAnImageError(f"the file {upload.filename!r} is empty")
        return data, upload.filename
    drawing = request.form.get("drawing", "")
    if drawing:
        if not drawing.startswith(DRAWING_PREFIX):
            raise NotAnImageError("the drawing was not sent as a PNG data URI")
        try:
            return base64.b64decode(drawing[len(DRAWING_PREFIX) :], validate=True), "drawing"
        except (binascii.Error, ValueError):
            raise NotAnImageError("the drawing's data is not valid base64") from None
    raise InvalidArgumentError("choose an image file or draw a character first")


@blueprint.route("/", methods=["POST"])
def result() -> str:
    config = current_app.config
    data, source = submitted_image()
    limits = request_limits()
    pixels = preprocess_image(data, limits.max_image_pixels, limits)
    small = max(open_image(data, limits.max_image_pixels).size) <= 64
    name = request.form.get("model") or config["MODEL_NAME"]
    answer = serving().scores(ModelSpec(name), pixels[None])
    scores, labels = answer.scores[0], answer.labels
    model = {"name": answer.model.name, "version": answer.model.version, "engine": answer.model.engine}
    ranking = sorted(range(len(labels)), key=lambda i: -float(scores[i]))
    bars = [
        {
            "label": labels[i],
            "group": GROUP_NAMES[class_group(i)],
            "probability": float(scores[i]),
        }
        for i in ranking
    ]
    return render_template(
        "result.html",
        source=source,
        original_uri=data_uri(data, image_mime_type(data)),
        original_small=small,
        input_uri=data_uri(png_bytes(pixels), "image/png"),
        best=bars[0],
        top5=bars[:5],
        bars=bars,
        model=model,
    )
