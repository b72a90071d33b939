"""Image files -> greyscale arrays, with the work of one file bounded before and while it is decoded.

Why bounded: a small file can hold a huge image (a PNG of a few hundred kilobytes can decode to tens of
megapixels, and every full-size float copy of those to four bytes a pixel). So:

* a large JPEG is decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself (``draft``);
* the pixel count the file decodes to is read from its header and refused above MAX_IMAGE_PIXELS
  before anything is decoded;
* the one full-size buffer a PNG, GIF, BMP or WebP needs is reduced by an integer factor right after
  decoding, in Pillow's own 8-bit images (a premultiplied greyscale and the alpha channel: at most 6
  bytes per pixel, never a float copy at full size), so the analysis works on at most
  ``2 * WORK_MAX_SIDE`` pixels a side whatever the upload;
* the full-size decode happens while the caller's ``DecodeBounds`` holds the pixels (``PixelGate``: a
  process-wide bound on pixels being decoded at once, so several large uploads in parallel wait for
  their turn instead of adding up), and after the per-request checks (count, total, deadline).
"""

from __future__ import annotations

import contextlib
import io
import math
import time
import warnings
from collections.abc import Callable
from typing import Protocol

import numpy as np
from PIL import Image, ImageChops, ImageSequence, UnidentifiedImageError

from serving_core import metrics
from serving_core.errors import Code, InvalidArgumentError

#: Longest side an upload is reduced to before any analysis: pen strokes stay several pixels wide.
WORK_MAX_SIDE = 512
#: Longest side kept from the full-size decode (the analysis then resizes it smoothly to WORK_MAX_SIDE).
REDUCED_MAX_SIDE = 2 * WORK_MAX_SIDE
ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
#: How much one decoded pixel counts against the pixel limits, by format: Pillow decodes WebP through
#: libwebp's own full-size buffers besides its image, about three times a PNG pixel's memory.
DECODE_WEIGHT = {"WEBP": 3}
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class PreprocessingError(InvalidArgumentError):
    """An upload that cannot become a model input."""


class NotAnImageError(PreprocessingError):
    """Not a PNG, JPEG, GIF, BMP or WebP file (or a damaged one)."""

    http_status = 415


class DamagedImageError(NotAnImageError):
    """A file that starts as an accepted image format but cannot be decoded (truncated, corrupted)."""


class EmptyFileError(NotAnImageError):
    """A file of zero bytes."""


class ImageTooLargeError(PreprocessingError):
    """More pixels than MAX_IMAGE_PIXELS: refused from the header, before decoding."""

    code = Code.RESOURCE_EXHAUSTED
    http_status = 413
    limit = "MAX_IMAGE_PIXELS"


class EmptyImageError(PreprocessingError):
    """No ink: a blank page or an empty drawing."""


class DecodeBounds(Protocol):
    """What bounds one request's decoding (``serving_core.payloads.limits.RequestBudget`` is one)."""

    def decoding(self, pixels: int, counted: bool = True) -> contextlib.AbstractContextManager[None]:
        """Held while an image of ``pixels`` decoded pixels is decoded; refuses when over a bound
        (``counted=False``: a file the request already counted, decoded again)."""

    def check(self, step: str) -> None:
        """Refuses when the request's deadline has passed."""


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Open an image lazily (header only) and refuse it when it would decode to more than ``max_pixels``
    pixels as ``plan_decoding`` plans it (a large JPEG counts at its reduced scale)."""
    if not data:
        raise EmptyFileError("the file is empty (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:  # Pillow's own header check, for gigantic sizes
        raise ImageTooLargeError(f"{exc} Over the limit MAX_IMAGE_PIXELS={max_pixels}") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise unreadable_image_error(data) from None
    width, height = image.size
    if width < 1 or height < 1:
        raise NotAnImageError("image has no pixels")
    planned = image
    if image.format == "JPEG":  # a copy to plan on: the caller may decode this one its own way
        planned = Image.open(io.BytesIO(data), formats=("JPEG",))
    pixels = plan_decoding(planned)
    if decode_cost(planned) > max_pixels:
        scaled = "" if planned.size == (width, height) else (
            f" (decoded at reduced scale: {planned.size[0]}x{planned.size[1]} = {pixels} pixels)")
        weight = DECODE_WEIGHT.get(image.format or "", 1)
        weighted = "" if weight == 1 else f", each counting {weight} for {image.format}'s decoder,"
        raise ImageTooLargeError(
            f"image of {width}x{height} = {width * height} pixels{scaled}{weighted} is over the limit "
            f"MAX_IMAGE_PIXELS={max_pixels}"
        )
    return image


def plan_decoding(image: Image.Image) -> int:
    """Let libjpeg decode a large JPEG at reduced scale; the pixels the decode will then produce."""
    width, height = image.size
    if image.format == "JPEG" and max(width, height) > 2 * REDUCED_MAX_SIDE:
        # 1/2, 1/4 or 1/8 scale, still at least twice the kept side: several times faster and lighter
        # than decoding 12 megapixels to throw most away.
        scale = REDUCED_MAX_SIDE / max(width, height)
        image.draft("L", (max(1, int(width * scale)), max(1, int(height * scale))))
    width, height = image.size
    return width * height


def decode_cost(image: Image.Image) -> int:
    """The pixels an image decodes to as it is planned now, weighted by its format's memory."""
    return image.size[0] * image.size[1] * DECODE_WEIGHT.get(image.format or "", 1)


def _first_frame(image: Image.Image) -> Image.Image:
    frame = next(ImageSequence.Iterator(image))
    frame.load()
    return frame


def _reduce(channel: Image.Image, factor: int) -> Image.Image:
    return channel.reduce(factor) if factor > 1 else channel


def _grey_and_alpha(frame: Image.Image, factor: int) -> tuple[Image.Image, Image.Image | None]:
    """(greyscale, alpha or None) 8-bit images of the frame, reduced ``factor`` times; closes the frame.

    With alpha, the greyscale is premultiplied (grey x alpha), so that the reduction averages what is
    seen and not the colour hidden under transparent pixels.
    """
    palette_alpha = frame.mode == "P" and "transparency" in frame.info
    if frame.mode not in _ALPHA_MODES and not palette_alpha:
        grey = frame.convert("L")
        frame.close()  # frees the full-size buffer now, not when the caller lets go of the image
        return _reduce(grey, factor), None
    if palette_alpha:  # alpha from the palette: two 1-byte images, not a 4-byte RGBA copy
        alpha = _palette_alpha(frame)
    else:
        if frame.mode not in ("RGBA", "LA"):
            converted = frame.convert("RGBA")
            frame.close()
            frame = converted
        alpha = frame.getchannel("A")
    grey = frame.convert("L")
    frame.close()
    premultiplied = ImageChops.multiply(grey, alpha)
    del grey
    return _reduce(premultiplied, factor), _reduce(alpha, factor)


def _palette_alpha(frame: Image.Image) -> Image.Image:
    """The alpha channel of a palette image with transparency (one index, or an alpha per index)."""
    transparency = frame.info["transparency"]
    if isinstance(transparency, int):
        alphas = [0 if index == transparency else 255 for index in range(256)]
    else:
        alphas = (list(transparency) + [255] * 256)[:256]
    alpha = frame.copy()
    alpha.info.pop("transparency", None)
    alpha.putpalette(bytes(value for a in alphas for value in (a, a, a)))
    return alpha.convert("L")


def decode_greyscale(
    image: Image.Image, pixels: int, bounds: DecodeBounds | None,
    on_decoded: Callable[[Image.Image], None] | None = None,
) -> np.ndarray:
    """The first frame as float greyscale in [0, 1], at most REDUCED_MAX_SIDE a side (when larger).

    A transparent background is filled with the colour that contrasts with the opaque pixels, so
    black strokes on a transparent canvas and white strokes on one both keep their ink. ``on_decoded``
    sees the decoded frame first, inside the same bounds (the page keeps a small copy of it to show,
    rather than decoding the file a second time).
    """
    factor = math.ceil(max(image.size) / REDUCED_MAX_SIDE)  # 1 for an image that small already
    holding = bounds.decoding(pixels) if bounds is not None else contextlib.nullcontext()
    try:
        with holding, warnings.catch_warnings():
            started = time.perf_counter()
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            frame = _first_frame(image)
            if on_decoded is not None:
                on_decoded(frame)
            grey_image, alpha_image = _grey_and_alpha(frame, factor)
            recorder = metrics.active()
            if recorder is not None:
                recorder.decoded(time.perf_counter() - started)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise DamagedImageError(f"the image file is damaged or truncated: {exc}") from None
    grey = np.asarray(grey_image, dtype=np.float32) / 255.0
    if alpha_image is None:
        return grey
    alpha = np.asarray(alpha_image, dtype=np.float32) / 255.0
    if alpha.min() >= 1.0:
        return grey
    if alpha.max() <= 0.0:
        raise EmptyImageError("the image is fully transparent: nothing to read")
    opaque_mean = float(grey.sum() / alpha.sum())  # grey is premultiplied: sum(grey*alpha)/sum(alpha)
    background = 1.0 if opaque_mean < 0.5 else 0.0
    return grey + background * (1.0 - alpha)


def looks_like_text(data: bytes) -> bool:
    """True for bytes that are UTF-8 text without control characters other than whitespace."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(char) < 32 and char not in "\t\n\r\f" for char in text[:4096])


def unreadable_image_error(data: bytes) -> NotAnImageError:
    """The refusal of bytes Pillow cannot open, saying what they look like instead."""
    mime_type = image_mime_type(data)
    if mime_type != "application/octet-stream":
        kind = mime_type.split("/")[1].upper()
        return DamagedImageError(f"the {kind} file is damaged or truncated: it cannot be decoded")
    expected = "expected a PNG, JPEG, GIF, BMP or WebP image file"
    if looks_like_text(data):
        return NotAnImageError(f"this is text ({len(data)} bytes), not an image: {expected}")
    return NotAnImageError(f"not an image: {expected} ({len(data)} bytes of another kind)")


def image_mime_type(data: bytes) -> str:
    """The MIME type of an accepted image file, from its signature (for data URIs)."""
    signatures = {
        b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif", b"BM": "image/bmp",
    }
    for signature, mime_type in signatures.items():
        if data.startswith(signature):
            return mime_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"
