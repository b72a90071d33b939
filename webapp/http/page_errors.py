"""What the page says when it cannot read a character: plain sentences, one per kind of refusal.

The JSON APIs answer the precise message (limits by their setting name, byte counts, formats); a person
at the page gets what happened and what to do next, without status codes or internal names. The
refusal is always the core's ``ServingError`` (or werkzeug's body-size and routing errors), so the kind
is its class and the numbers come from the app's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge

from serving_core.deadline import ServerBusyError
from serving_core.errors import (
    DeadlineExceededError,
    ModelNotFoundError,
    ResourceExhaustedError,
    ServingError,
    UnavailableError,
)
from serving_core.preprocessing import (
    DamagedImageError,
    EmptyFileError,
    EmptyImageError,
    ImageTooLargeError,
    NotAnImageError,
)
from webapp.http.form_request import FormTooLargeError
from webapp.http.request_body import BodyTimeoutError, BodyTooLargeError

FORMATS = "PNG, JPEG, GIF, BMP or WebP"
SERVER_FAULT = "Something went wrong on the server (it has been logged). Please try again."


class NothingSubmittedError(ServingError):
    """The form came without a file and without a drawing."""


class BadDrawingError(ServingError):
    """The drawing field is not the PNG data URI the page's script sends."""


@dataclass(frozen=True)
class Submission:
    """What the person sent: a file's name, or ``None`` for the drawing (or when nothing was read)."""

    file_name: str | None = None
    drawing: bool = False
    model: str = ""


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.0f} megapixels" if pixels >= 1e6 else f"{pixels:,} pixels"


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.0f} MB" if size >= 2**20 else f"{size // 1024} KB"


def plain_message(error: BaseException, submitted: Submission, config: Any) -> str:
    """The sentence the page shows for ``error`` (raised while reading ``submitted``)."""
    name = f"“{submitted.file_name}”" if submitted.file_name else "The file"
    if isinstance(error, NothingSubmittedError):
        return "Choose a picture or draw a character first, then press “Read the character”."
    if isinstance(error, BadDrawingError):
        return "The drawing did not arrive in one piece. Please clear it and draw again."
    if isinstance(error, EmptyImageError):
        if submitted.drawing:
            return "No character found: the drawing is empty. Draw one character, then read it."
        return (f"No character found in {name}: the picture looks blank. Photograph one dark character on "
                "light paper (or a light one on dark), filling most of the picture.")
    if isinstance(error, EmptyFileError):
        return f"{name} is empty (0 bytes). Choose another picture."
    if isinstance(error, DamagedImageError):
        return f"{name} looks like a picture but is damaged or incomplete. Save it again or choose another."
    if isinstance(error, NotAnImageError):
        return f"{name} is not a picture the reader can open. Choose a photo or scan saved as {FORMATS}."
    if isinstance(error, ImageTooLargeError):
        limit = _megapixels(int(config["MAX_IMAGE_PIXELS"]))
        return f"This picture has too many pixels (the limit is {limit}). Choose a smaller one or crop it."
    if isinstance(error, FormTooLargeError):
        return "The form sent too many fields, or too long a file name. Send one picture with a short name."
    if isinstance(error, BodyTimeoutError):
        return "The picture did not arrive in time (the connection is too slow). Please try again."
    if isinstance(error, DeadlineExceededError):
        return "Reading took too long. Please try a smaller picture, or try again in a moment."
    if isinstance(error, ServerBusyError):
        return "The reader is busy right now. Please try again in a moment."
    if isinstance(error, RequestEntityTooLarge | BodyTooLargeError):
        limit = config.get("MAX_CONTENT_LENGTH")
        size = f" (the limit is {_megabytes(int(limit))})" if limit else ""
        return f"This file is too large to send{size}. Choose a smaller picture."
    if isinstance(error, ModelNotFoundError):
        model = f"“{submitted.model}”" if submitted.model else "asked for"
        return f"The model {model} is not available right now. Choose another model or try again later."
    if isinstance(error, UnavailableError):
        return "The reader is not ready yet (no model is loaded). Please try again in a moment."
    if isinstance(error, ResourceExhaustedError):
        return "The reader is busy right now. Please try again in a moment."
    if isinstance(error, ServingError):
        return "The reader could not use what was sent. Please try another picture or drawing."
    if isinstance(error, NotFound):
        return "There is no page at this address. Use the form below to read a character."
    if isinstance(error, HTTPException) and error.code is not None and error.code < 500:
        return "This page cannot be used that way. Use the form below to read a character."
    return SERVER_FAULT
