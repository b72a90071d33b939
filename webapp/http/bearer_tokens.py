"""WSGI middleware: with ``API_TOKENS`` set, an API request without a valid bearer token gets 401.

The answer is the refusal of the path's own style (``{"error": ...}`` JSON; an ``InferResponse`` holding
the error for GraphPipe's clients) with ``WWW-Authenticate: Bearer``. Health probes never need a token;
the page needs one only with ``PAGE_NEEDS_TOKEN``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from serving_core.errors import Code, ServingError
from webapp.api_tokens import ApiTokens
from webapp.http.path_kinds import PAGE_PATH, PROBE_PATH, PathKinds
from webapp.http.refusals import refusal_answer
from webapp.http.routing import status_line

#: A request's refusal style, from its environ (the app's ``refusal_style``).
StyleOf = Callable[[dict], str]


class RequireToken:
    """Refuses requests without a valid token before the wrapped app sees them."""

    def __init__(self, wsgi_app: Callable, tokens: ApiTokens, kinds: PathKinds, style_of: StyleOf,
                 page_needs_token: bool = False) -> None:
        self.wsgi_app = wsgi_app
        self.tokens = tokens
        self.kinds = kinds
        self.style_of = style_of
        self.open_kinds = {PROBE_PATH} if page_needs_token else {PROBE_PATH, PAGE_PATH}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.kinds.kind(environ) in self.open_kinds:
            return self.wsgi_app(environ, start_response)
        reason = self.tokens.refusal(environ.get("HTTP_AUTHORIZATION"))
        if reason is None:
            return self.wsgi_app(environ, start_response)
        refusal = refusal_answer(ServingError(reason, Code.UNAUTHENTICATED, http_status=401),
                                 self.style_of(environ))
        start_response(status_line(refusal.status),
                       [*refusal.wsgi_headers(), ("WWW-Authenticate", 'Bearer realm="emnist"')])
        return [refusal.body]
