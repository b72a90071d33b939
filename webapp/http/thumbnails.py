"""A small picture of the upload for the result page, instead of the upload itself.

Inlining the original made a phone photo's result page as heavy as the photo (megabytes, uncompressed
in base64). The page shows a thumbnail of at most ``THUMBNAIL_SIDE`` pixels, in PNG or JPEG, whichever
is smaller for that picture (line drawings compress best as PNG, photos as JPEG). Tiny images (EMNIST's
own 28x28 files) are kept at their size and enlarged by the browser without smoothing.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass

from PIL import Image, ImageSequence

from serving_core.image_decoding import DecodeBounds, decode_cost, open_image
from serving_core.preprocessing import data_uri

#: Longest side of the thumbnail, in pixels (twice the size it is shown at, for high-density screens).
THUMBNAIL_SIDE = 320
#: Images whose longest side is at most this are shown enlarged, pixel for pixel.
TINY_SIDE = 64
JPEG_QUALITY = 82


@dataclass(frozen=True)
class Thumbnail:
    uri: str
    width: int
    height: int
    #: True for tiny images, shown enlarged without smoothing.
    tiny: bool
    #: True when the thumbnail has fewer pixels than the picture.
    reduced: bool


def _flatten(frame: Image.Image) -> Image.Image:
    """RGB or L, with any transparency put on white (as the page shows it)."""
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        rgba = frame.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return frame.convert("L" if frame.mode in ("1", "L", "I", "I;16", "F") else "RGB")


def _encoded(image: Image.Image) -> tuple[bytes, str]:
    """The smaller of the PNG and JPEG encodings of ``image``."""
    png = io.BytesIO()
    image.save(png, format="PNG", optimize=True)
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=JPEG_QUALITY)
    if len(jpeg.getvalue()) < len(png.getvalue()):
        return jpeg.getvalue(), "image/jpeg"
    return png.getvalue(), "image/png"


#: Rows of the decoded frame reduced at a time.
BAND_ROWS = 256
#: Modes ``Image.reduce`` works on; others (palette, 1-bit) are converted first.
_REDUCIBLE = {"L", "LA", "RGB", "RGBA", "I", "F"}


def _small_copy(frame: Image.Image) -> Image.Image:
    """A copy of a decoded frame reduced by an integer factor to at most twice the thumbnail's side.

    Band by band: reducing (or converting) a whole large frame at once makes a full-size copy of it
    (Pillow premultiplies RGBA into a new image first), which would add half again to a request's peak.
    """
    factor = max(1, math.ceil(max(frame.size) / (2 * THUMBNAIL_SIDE)))
    mode = frame.mode
    if mode not in _REDUCIBLE:
        transparent = mode == "PA" or (mode == "P" and "transparency" in frame.info)
        mode = "RGBA" if transparent else "RGB"
    width, height = frame.size
    small = Image.new(mode, (math.ceil(width / factor), math.ceil(height / factor)))
    rows = factor * max(1, BAND_ROWS // factor)  # a multiple of the factor: bands reduce whole
    for top in range(0, height, rows):
        band = frame.crop((0, top, width, min(height, top + rows)))
        if band.mode != mode:
            band = band.convert(mode)
        small.paste(band.reduce(factor) if factor > 1 else band, (0, top // factor))
    return small


class DecodedFrame:
    """Given to preprocessing as its ``on_decoded``: keeps a small copy of the frame it decodes, so the
    page shows the upload without decoding the file a second time (a second full-size decode of a large
    PNG would double the memory one request takes)."""

    def __init__(self) -> None:
        self.small: Image.Image | None = None

    def __call__(self, frame: Image.Image) -> None:
        self.small = _small_copy(frame)


def thumbnail(data: bytes, max_pixels: int, bounds: DecodeBounds | None = None,
              decoded: DecodedFrame | None = None) -> Thumbnail:
    """The thumbnail of an image file that preprocessing accepted (same pixel limit).

    From ``decoded``, preprocessing's own decoding, when it kept one in colour; a JPEG is decoded again
    here in colour at 1/2 to 1/8 scale (libjpeg's draft mode: small and cheap), under ``bounds``.
    """
    image = open_image(data, max_pixels)
    original_size = image.size
    if decoded is not None and decoded.small is not None and image.format != "JPEG":
        small = decoded.small
    else:
        if image.format == "JPEG":
            image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        holding = bounds.decoding(decode_cost(image), counted=False) if bounds else contextlib.nullcontext()
        with holding:
            frame = next(ImageSequence.Iterator(image))
            frame.load()
            small = _small_copy(frame)
    frame = _flatten(small)
    tiny = max(frame.size) <= TINY_SIDE
    if tiny:
        buffer = io.BytesIO()
        frame.save(buffer, format="PNG")
        encoded, mime_type = buffer.getvalue(), "image/png"
    else:
        frame.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
        encoded, mime_type = _encoded(frame)
    reduced = frame.size != original_size
    return Thumbnail(data_uri(encoded, mime_type), frame.width, frame.height, tiny, reduced)
