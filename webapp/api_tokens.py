"""Optional bearer tokens of the APIs (``EMNIST_API_TOKENS``), shared by the REST and gRPC front ends.

A request carries ``Authorization: Bearer <token>`` (an HTTP header, or gRPC metadata ``authorization``).
Every configured token is compared, each with ``hmac.compare_digest``, so the time an answer takes does
not tell which token, or how much of one, matched.
"""

from __future__ import annotations

import hmac
from typing import Any

#: The refusal's words: the same on every protocol.
MISSING_TOKEN = "this API needs a token: send the header Authorization: Bearer <token>"
WRONG_TOKEN = "the API token is not valid"
SCHEME = "bearer"


def parse_tokens(value: Any) -> tuple[str, ...]:
    """``"a,b"`` (or a sequence of strings) -> the tokens; empty: no tokens, the APIs are open."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected comma-separated tokens, got {type(value).__name__}")
    tokens = tuple(str(item).strip() for item in items if str(item).strip())
    for token in tokens:
        if not token.isascii() or not token.isprintable() or " " in token:
            raise ValueError("a token must be printable ASCII without spaces")
    return tokens


class ApiTokens:
    """The configured tokens and the check of an ``Authorization`` value against them."""

    def __init__(self, tokens: tuple[str, ...]) -> None:
        self._tokens = tuple(token.encode("ascii") for token in tokens)

    @property
    def required(self) -> bool:
        """Whether any token is configured (none: every request is let through)."""
        return bool(self._tokens)

    def refusal(self, authorization: str | None) -> str | None:
        """Why a request with this ``Authorization`` value is refused, or None when it is let through."""
        if not self._tokens:
            return None
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        if scheme.lower() != SCHEME or not credentials.strip():
            return MISSING_TOKEN
        offered = credentials.strip().encode("utf-8", "surrogateescape")
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(offered, token)
        return None if matched else WRONG_TOKEN
