"""The server's front ends over the serving core, and its configuration (``webapp.settings``).

``webapp.http`` is the Flask app (the page, ``/predict``, TensorFlow Serving's REST API). ``create_app``
is importable from here too, for ``gunicorn 'webapp:create_app()'`` and for tests.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazy, so that importing webapp.settings (or a non-HTTP front end) does not import Flask.
    if name == "create_app":
        from webapp.http.app import create_app

        return create_app
    raise AttributeError(f"module 'webapp' has no attribute {name!r}")
