"""Media types of the HTTP API: which bodies are binary tensors, which are forms, what an answer may be."""

from __future__ import annotations

import zlib

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from serving_core.errors import InvalidArgumentError, ResourceExhaustedError
from serving_core.payloads.codecs import NPY_MAGIC
from serving_core.preprocessing import image_mime_type, looks_like_text

#: Bodies read as a binary tensor (.npy, raw float32 pixels) or an image file, not JSON.
BINARY_TYPES = ("application/octet-stream", "application/x-npy", "application/npy")
# Only multipart bodies are refused on the TF Serving routes. ``curl -d`` (TF Serving's own examples)
# labels a JSON body application/x-www-form-urlencoded, and TF Serving reads it as JSON all the same.
FORM_TYPES = ("multipart/form-data",)
#: Media types of a ``.npy`` answer a client may ask for in ``Accept`` (the first is the one we send).
NPY_MEDIA_TYPES = ("application/x-npy", "application/npy")
JSON_MEDIA_TYPE = "application/json"


def mimetype_of(content_type: str | None) -> str:
    """The bare, lower-case media type of a Content-Type header."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_binary_body(mimetype: str, body: bytes) -> bool:
    """A body to read as a tensor or an image file rather than JSON.

    Binary when its media type says so, or, unless it is labelled JSON, when its bytes do: a ``.npy`` or
    image file signature, or bytes that cannot be JSON text (``curl --data-binary @x.png`` labels a PNG
    application/x-www-form-urlencoded, and many clients send no Content-Type at all). JSON text starts
    with ``{`` or ``[``, so a JSON body never pays for the text check.
    """
    if mimetype in BINARY_TYPES or mimetype.startswith("image/") or body.startswith(NPY_MAGIC):
        return True
    if mimetype == JSON_MEDIA_TYPE or body[:64].lstrip()[:1] in (b"{", b"["):
        return False
    return image_mime_type(body) != "application/octet-stream" or not looks_like_text(body)


def accepts_npy(accept: str | None) -> bool:
    """True when an ``Accept`` header names a ``.npy`` media type at least as high as JSON.

    Only an explicit ``application/x-npy`` or ``application/npy`` counts: ``*/*`` (browsers, curl) and a
    missing header keep TF Serving's JSON answer.
    """
    if not accept or "npy" not in accept.lower():
        return False
    ranges = parse_accept_header(accept, MIMEAccept)
    npy_quality = max((quality for value, quality in ranges if value.lower() in NPY_MEDIA_TYPES), default=0)
    return npy_quality > 0 and npy_quality >= ranges.quality(JSON_MEDIA_TYPE)


def decode_content(body: bytes, encoding: str | None, limit: int | None) -> bytes:
    """A body sent with ``Content-Encoding: gzip`` or ``deflate`` (zlib), inflated up to ``limit`` bytes.

    Refuses other encodings (415), a body that does not inflate (400) and one that inflates past the
    body size limit (413).
    """
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise InvalidArgumentError(
            f"Content-Encoding {encoding} is not supported: send gzip, deflate or none", http_status=415)
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        data = inflater.decompress(body, (limit + 1) if limit is not None else 0)
    except zlib.error as exc:
        raise InvalidArgumentError(f"the {encoding} body does not decompress: {exc}") from None
    if limit is not None and len(data) > limit:
        raise ResourceExhaustedError(
            f"the decompressed body is larger than the limit MAX_CONTENT_LENGTH={limit} bytes",
            http_status=413, limit="MAX_CONTENT_LENGTH")
    if not inflater.eof:
        raise InvalidArgumentError(f"the {encoding} body is truncated")
    return data
