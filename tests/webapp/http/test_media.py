"""Media types: which bodies are read as binary, and when a client gets a .npy answer."""

from __future__ import annotations

import pytest

from webapp.http.media import accepts_npy, is_binary_body


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/x-npy", True),
        ("application/npy", True),
        ("Application/X-NPY", True),
        ("application/x-npy, application/json", True),
        ("application/json, application/x-npy;q=0.5", False),
        ("application/x-npy;q=0, */*", False),
        ("text/html,application/npy;q=0.9,*/*;q=0.8", True),
    ],
)
def test_accepts_npy_only_when_asked_explicitly(accept, wanted):
    assert accepts_npy(accept) is wanted


PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)


@pytest.mark.parametrize(
    ("mimetype", "body", "binary"),
    [
        ("application/json", b'{"instances": []}', False),
        ("", b'{"instances": []}', False),
        ("application/x-www-form-urlencoded", b'  {"instances": []}', False),  # curl -d
        ("", b"[1, 2]", False),
        ("", b"", False),  # JSON's "document is empty"
        ("", b"hello", False),  # text: a JSON parse error names it
        ("application/octet-stream", b'{"instances": []}', True),  # the client said so
        ("image/png", b"anything", True),
        ("", PNG, True),  # an image without a Content-Type
        ("application/x-www-form-urlencoded", PNG, True),  # curl --data-binary @x.png
        ("text/plain", b"\xff\xd8\xff\xe0 jpeg", True),
        ("", b"\x93NUMPY", True),
        ("", bytes(range(256)), True),  # bytes that cannot be JSON text
        ("application/json", PNG, False),  # labelled JSON: read as JSON, refused as such
    ],
)
def test_which_bodies_are_binary(mimetype, body, binary):
    assert is_binary_body(mimetype, body) is binary
