"""The security headers every HTTP answer carries, added by one WSGI middleware outermost.

``SecurityHeaders`` wraps the whole app (Flask, the fast paths below it, the GraphPipe port, the token and
CORS checks), so no answer of the app can leave without them; the gunicorn worker's own answers (a
request given up at its deadline, gunicorn's refusals of a malformed request) add ``HEADERS`` themselves.

The Content-Security-Policy allows scripts, styles, fonts and fetches from the server itself only: no
inline script or style (the page's are files under ``static/``), images also as ``data:`` (the result page
shows the picture sent and the model's input inline), and no framing by any site.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
))

HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)
#: Headers an answer loses: ours replace any of the same name, and no answer names its server.
_REPLACED = frozenset(name.lower() for name, _ in HEADERS) | {"server"}


def with_security_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with ``HEADERS`` in place of any of the same names, and without a ``Server`` header."""
    return [*(item for item in headers if item[0].lower() not in _REPLACED), *HEADERS]


class SecurityHeaders:
    """WSGI middleware: every answer of the wrapped app gets ``HEADERS``."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        def secured(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Callable:
            return start_response(status, with_security_headers(headers), *((exc_info,) if exc_info else ()))

        return self.wsgi_app(environ, secured)
