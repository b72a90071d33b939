"""A small picture of the upload for the result page, instead of the upload itself.

Inlining the original made a phone photo's result page as heavy as the photo (megabytes, uncompressed
in base64). The page shows a thumbnail of at most ``THUMBNAIL_SIDE`` pixels, in PNG or JPEG, whichever
is smaller for that picture (line drawings compress best as PNG, photos as JPEG). Tiny images (EMNIST's
own 28x28 files) are kept at their size and enlarged by the browser without smoothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageSequence

from serving_core.preprocessing import data_uri, open_image

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


def thumbnail(data: bytes, max_pixels: int) -> Thumbnail:
    """The thumbnail of an image file that preprocessing accepted (same pixel limit)."""
    image = open_image(data, max_pixels)
    original_size = image.size
    if image.format == "JPEG":
        image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))  # let libjpeg decode at 1/2..1/8 scale
    frame = _flatten(next(ImageSequence.Iterator(image)))
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
