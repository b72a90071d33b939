"""Serve a WSGI app over real HTTP on 127.0.0.1 for the clients that need a socket (not a fixture)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serving_wsgi(app: Callable[..., Any] | None = None) -> Iterator[Any]:
    """A threaded werkzeug server on a free loopback port (``server.server_port``), stopped on exit.

    With no ``app``, set ``server.app`` before the first request: a test that must know the port before
    it builds the app (the app serves a protocol on that port) binds first.
    """
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app or _unset, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(10)


@contextmanager
def served(app: Callable[..., Any]) -> Iterator[str]:
    """``app`` on a free loopback port (``serving_wsgi``); yields its base URL."""
    with serving_wsgi(app) as server:
        yield f"http://127.0.0.1:{server.server_port}"


def _unset(environ: dict, start_response: Callable) -> list[bytes]:
    start_response("503 SERVICE UNAVAILABLE", [("Content-Type", "text/plain")])
    return [b"no app yet\n"]
