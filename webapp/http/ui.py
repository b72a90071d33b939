"""The pages: ``GET /`` (draw a character or upload a picture) and ``POST /`` (the result page).

One form: whichever of the drawing and the file is present is read (both: the one touched last, which
the page's script names in the ``source`` field). Without JavaScript the page is a plain multipart form
with the file input; the drawing, its live reading (the page's script calling ``POST /predict``) and the
controls that need a script are hidden. Uploads stay in memory: the result page shows a thumbnail and
the 28x28 input the model saw as ``data:`` URIs. Refusals are shown on the form page in plain words
(``page_errors``), with the HTTP status of the refusal.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from emnist_contract.labels import class_group
from serving_core.confidence import (
    CLOSE_MARGIN,
    CLOSE_RUNNER_UP_REASON,
    LOW_PROBABILITY,
    LOW_PROBABILITY_REASON,
    Confidence,
    confidence,
)
from serving_core.errors import ServingError
from serving_core.observation import note_error
from serving_core.preprocessing import data_uri, png_bytes, preprocess_image
from serving_core.request import ModelSpec
from webapp.http.page_errors import BadDrawingError, NothingSubmittedError, Submission, plain_message
from webapp.http.routing import current_call
from webapp.http.thumbnails import DecodedFrame, thumbnail

blueprint = Blueprint("ui", __name__)
PROTOCOL = "page"

DRAWING_PREFIX = "data:image/png;base64,"
GROUP_NAMES = {"digit": "digit", "uppercase": "uppercase letter", "lowercase": "lowercase letter"}
TOP_ANSWERS = 5


@dataclass(frozen=True)
class ModelChoice:
    """A model the page offers, with the classes its latest version cannot answer."""

    name: str
    classes: int
    untrained_classes: tuple[str, ...]


def model_choices() -> list[ModelChoice]:
    """Every model with a version that answers now (a model still loading is left out)."""
    try:
        service = current_call(PROTOCOL).service
        names = service.model_names()
    except ServingError:
        return []
    choices = []
    for name in names:
        try:
            metadata = service.metadata(ModelSpec(name))
            choices.append(ModelChoice(name, len(metadata.labels), metadata.untrained_classes))
        except ServingError:
            continue
    return choices


def form_page(error: str = "", status: int = 200, model: str = "") -> Response:
    """The form page (``model`` selected), with ``error`` shown above the form when there is one."""
    choices = model_choices()
    wanted = model or current_app.config["MODEL_NAME"]
    selected = next((c for c in choices if c.name == wanted), choices[0] if choices else None)
    page = render_template("img_upload.html", error=error, models=choices, selected=selected)
    return Response(page, status=status, mimetype="text/html")


def error_page(error: BaseException, status: int, submitted: Submission | None = None) -> Response:
    """The form page again, saying in plain words why nothing was read (the app's HTML error page)."""
    submitted = submitted or Submission()
    return form_page(plain_message(error, submitted, current_app.config), status, submitted.model)


@blueprint.route("/", methods=["GET"])
def index() -> Response:
    return form_page()


def read_submission() -> tuple[bytes, Submission]:
    """The bytes to read (the file or the drawing's PNG) and what they are."""
    model = request.form.get("model") or current_app.config["MODEL_NAME"]
    upload = request.files.get("image")
    drawing = request.form.get("drawing", "")
    has_file = upload is not None and bool(upload.filename)
    if drawing and (request.form.get("source") == "drawing" or not has_file):
        submitted = Submission(drawing=True, model=model)
        if not drawing.startswith(DRAWING_PREFIX):
            raise BadDrawingError("the drawing was not sent as a PNG data URI")
        try:
            return base64.b64decode(drawing[len(DRAWING_PREFIX) :], validate=True), submitted
        except (binascii.Error, ValueError):
            raise BadDrawingError("the drawing's data is not valid base64") from None
    if has_file:  # an empty file is refused by preprocessing, which names it
        return upload.read(), Submission(file_name=upload.filename, model=model)
    raise NothingSubmittedError("choose an image file or draw a character first")


def cue_text(cue: Confidence, ranked: list[dict[str, Any]]) -> str:
    """The confidence cue in words."""
    second = f"“{ranked[1]['label']}” ({ranked[1]['probability'] * 100:.2f} %)"
    if cue.reason == LOW_PROBABILITY_REASON:
        return (f"Uncertain: the best answer gets only {cue.probability * 100:.0f} %. "
                "Look at the other answers, or try a clearer picture.")
    if cue.reason == CLOSE_RUNNER_UP_REASON:
        return f"Uncertain: {second} is close behind. Look at the other answers."
    return f"Confident: well ahead of the next answer, {second}."


@blueprint.route("/", methods=["POST"])
def result() -> Response:
    submitted = Submission()
    call = current_call(PROTOCOL)
    try:
        data, submitted = read_submission()
        budget = call.budget
        decoded = DecodedFrame()
        pixels = preprocess_image(data, budget.max_image_pixels, budget, on_decoded=decoded)
        answer = call.service.scores(call.inference_request(ModelSpec(submitted.model), pixels[None]))
        picture = thumbnail(data, budget.max_image_pixels, budget, decoded)
    except ServingError as error:
        note_error(error)
        return error_page(error, error.http_status, submitted)
    except RequestEntityTooLarge as error:
        return error_page(error, 413, submitted)
    scores, labels, untrained = answer.scores[0], answer.labels, set(answer.untrained_classes)
    ranking = sorted(range(len(labels)), key=lambda i: -float(scores[i]))
    ranked = [
        {
            "label": labels[i],
            "group": GROUP_NAMES[class_group(i)],
            "probability": float(scores[i]),
            "learned": labels[i] not in untrained,
        }
        for i in ranking
    ]
    cue = confidence(scores)
    page = render_template(
        "result.html",
        submitted=submitted,
        picture=picture,
        input_uri=data_uri(png_bytes(pixels), "image/png"),
        best=ranked[0],
        cue=cue,
        cue_text=cue_text(cue, ranked),
        thresholds={"probability": LOW_PROBABILITY * 100, "margin": CLOSE_MARGIN * 100},
        top=ranked[:TOP_ANSWERS],
        bars=ranked,
        untrained=answer.untrained_classes,
        model={"name": answer.model.name, "version": answer.model.version, "engine": answer.model.engine},
    )
    return Response(page, mimetype="text/html")
