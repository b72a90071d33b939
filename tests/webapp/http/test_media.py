"""Media types: when a client gets a .npy answer."""

from __future__ import annotations

import pytest

from webapp.http.media import accepts_npy


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
