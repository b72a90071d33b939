"""The gunicorn worker the server ships with: gevent for the connections, a pool of OS threads for the app.

Why: with gunicorn's ``gthread`` worker each connection takes one of the few request threads as soon as
it is accepted and keeps it while the client sends its request, so a handful of clients that send a
byte and stop hold every thread and the server stops answering. Here a connection costs a greenlet
(kilobytes), not a thread: gunicorn's gevent worker reads the request line and headers within its
``keepalive`` time (a connection that has not sent a whole header block by then is closed), this worker
then reads the whole body (``webapp.http.request_body``) within ``REQUEST_BODY_TIMEOUT_SECONDS``, and
only a request that has fully arrived goes to one of ``threads`` real OS threads, where the app runs.

Nothing is monkey-patched: the serving core keeps real threads, locks and sleeps (its watcher loads a
version in a thread of its own while requests go on), and the model calls, decoding and JSON work run in
the pool's threads, off the event loop, so the loop keeps accepting and reading while they compute.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import gevent
import gevent.socket
from gevent.threadpool import ThreadPool
from gunicorn.workers.ggevent import GeventWorker

from serving_core.errors import Code, ServingError
from webapp.http.request_body import ARRIVED, BODY_ERROR, BODY_READY, buffer_body
from webapp.settings import load_settings


class BodyTimeoutError(ServingError):
    """The body did not arrive in time: HTTP 408, and the connection is closed."""

    code = Code.DEADLINE_EXCEEDED
    http_status = 408


class ThreadPoolApp:
    """Reads the body in the calling greenlet, then runs the WSGI app in a pool thread; its bytes back."""

    def __init__(self, wsgi_app: Callable, pool: ThreadPool, max_length: int | None,
                 body_timeout: float) -> None:
        self.wsgi_app = wsgi_app
        self.pool = pool
        self.max_length = max_length
        self.body_timeout = body_timeout

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        timer = gevent.Timeout(self.body_timeout or None)
        timer.start()
        try:
            error = buffer_body(environ, self.max_length)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            error = BodyTimeoutError("the request body did not arrive within "
                                     f"REQUEST_BODY_TIMEOUT_SECONDS={self.body_timeout:g} s")
            environ.update({BODY_ERROR: error, BODY_READY: True, "CONTENT_LENGTH": "0"})
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        finally:
            timer.close()
        if error is not None:
            _close_after_answer(start_response)  # the rest of the body is still on the connection
        environ[ARRIVED] = time.monotonic()
        return [self.pool.apply(_run_app, (self.wsgi_app, environ, start_response))]


def _run_app(wsgi_app: Callable, environ: dict, start_response: Callable) -> bytes:
    """The whole answer of the app, computed in a pool thread (every answer here is small)."""
    result = wsgi_app(environ, start_response)
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _close_after_answer(start_response: Callable) -> None:
    response = getattr(start_response, "__self__", None)
    if response is not None and hasattr(response, "force_close"):
        response.force_close()


class GeventThreadPoolWorker(GeventWorker):
    """gunicorn's gevent worker without monkey-patching, the app in ``threads`` OS threads (module doc)."""

    def patch(self) -> None:
        # Only the listening sockets become gevent sockets (the accepted ones are gevent's already).
        self.sockets = [gevent.socket.socket(s.FAMILY, socket.SOCK_STREAM, fileno=s.sock.detach())
                        for s in self.sockets]

    def load_wsgi(self) -> None:
        super().load_wsgi()
        settings = _app_settings(self.wsgi)
        self.pool = ThreadPool(max(1, self.cfg.threads))
        self.wsgi = ThreadPoolApp(self.wsgi, self.pool, settings["MAX_CONTENT_LENGTH"],
                                  settings["REQUEST_BODY_TIMEOUT_SECONDS"])


def _app_settings(wsgi_app: Any) -> Any:
    """The app's own settings when it is this server's Flask app, else the ``EMNIST_*`` environment's."""
    settings = getattr(wsgi_app, "extensions", {}).get("settings")
    return settings if settings is not None else load_settings()[0]
