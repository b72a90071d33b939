"""WSGI middleware: CORS for the APIs (``CORS_ORIGINS``), as TF Serving's ``--rest_api_enable_cors_support``.

A browser script from an allowed origin may call the APIs and probes: a preflight (``OPTIONS`` with
``Access-Control-Request-Method``) is answered 204 here with the methods and headers allowed, and every
answer to an allowed origin carries ``Access-Control-Allow-Origin`` echoing it. ``Vary: Origin`` goes on
every API answer so that a cache never hands one origin's answer to another. The page is same-origin and
gets none of it. Runs outside the token check: a preflight carries no token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from serving_core.errors import Code, ServingError
from webapp.http.path_kinds import PAGE_PATH, PathKinds
from webapp.http.refusals import JSON, refusal_answer
from webapp.http.routing import status_line

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
#: Seconds a browser may keep a preflight's answer.
MAX_AGE = "600"


class Cors:
    """Answers preflights of allowed origins and marks the answers to them."""

    def __init__(self, wsgi_app: Callable, origins: Iterable[str], kinds: PathKinds) -> None:
        self.wsgi_app = wsgi_app
        self.origins = frozenset(origins)
        self.any_origin = "*" in self.origins
        self.kinds = kinds

    def allowed(self, origin: str | None) -> bool:
        return bool(origin) and (self.any_origin or origin in self.origins)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.kinds.kind(environ) == PAGE_PATH:
            return self.wsgi_app(environ, start_response)
        origin = environ.get("HTTP_ORIGIN")
        allowed = self.allowed(origin)
        if environ.get("REQUEST_METHOD") == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            return self._preflight(origin, allowed, start_response)
        added = [("Vary", "Origin")]
        if allowed:
            added.append(("Access-Control-Allow-Origin", str(origin)))

        def marked(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Callable:
            return start_response(status, [*headers, *added], *((exc_info,) if exc_info else ()))

        return self.wsgi_app(environ, marked)

    @staticmethod
    def _preflight(origin: str | None, allowed: bool, start_response: Callable) -> list[bytes]:
        if not allowed:
            refusal = refusal_answer(ServingError(
                f"origin {origin or '(none)'} may not call this API: it is not in EMNIST_CORS_ORIGINS",
                Code.PERMISSION_DENIED, http_status=403), JSON)
            start_response(status_line(403), [*refusal.wsgi_headers(), ("Vary", "Origin")])
            return [refusal.body]
        start_response(status_line(204), [
            ("Access-Control-Allow-Origin", str(origin)), ("Access-Control-Allow-Methods", ALLOWED_METHODS),
            ("Access-Control-Allow-Headers", ALLOWED_HEADERS), ("Access-Control-Max-Age", MAX_AGE),
            ("Vary", "Origin"), ("Content-Length", "0")])
        return []
