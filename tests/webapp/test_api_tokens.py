"""The token check shared by REST and gRPC, and the parsing of API_TOKENS and CORS_ORIGINS."""

from __future__ import annotations

import hmac

import pytest

from webapp import api_tokens
from webapp.api_tokens import MISSING_TOKEN, WRONG_TOKEN, ApiTokens, parse_tokens
from webapp.settings import SettingsError, load_settings


def test_no_tokens_lets_everything_through():
    tokens = ApiTokens(())
    assert not tokens.required
    assert tokens.refusal(None) is None and tokens.refusal("Bearer anything") is None


@pytest.mark.parametrize(("authorization", "refusal"), [
    (None, MISSING_TOKEN), ("", MISSING_TOKEN), ("Bearer", MISSING_TOKEN), ("Bearer   ", MISSING_TOKEN),
    ("Basic YTpi", MISSING_TOKEN), ("Token alpha", MISSING_TOKEN),
    ("Bearer alph", WRONG_TOKEN), ("Bearer alphax", WRONG_TOKEN), ("Bearer ALPHA", WRONG_TOKEN),
    ("Bearer alpha,beta", WRONG_TOKEN), ("Bearer \udcff", WRONG_TOKEN), ("Bearer é", WRONG_TOKEN),
    ("Bearer alpha", None), ("bearer beta", None), ("BEARER  beta ", None),
])
def test_the_authorization_value_is_checked(authorization, refusal):
    assert ApiTokens(("alpha", "beta")).refusal(authorization) == refusal


def test_every_token_is_compared_in_constant_time(monkeypatch):
    """No early exit on a match: which token matched does not show in how many comparisons ran."""
    compared = []
    original = hmac.compare_digest

    def compare(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return original(a, b)

    monkeypatch.setattr(api_tokens.hmac, "compare_digest", compare)
    tokens = ApiTokens(("alpha", "beta", "gamma"))
    for offered in ("alpha", "gamma", "nothing"):
        compared.clear()
        tokens.refusal(f"Bearer {offered}")
        assert compared == [b"alpha", b"beta", b"gamma"]


def test_tokens_parse_from_a_comma_separated_list():
    assert parse_tokens(" a1 , b2,,") == ("a1", "b2")
    assert parse_tokens("") == ()
    settings, _ = load_settings({"API_TOKENS": "a1,b2"}, environ={})
    assert parse_tokens(settings["API_TOKENS"]) == ("a1", "b2")


def test_a_bad_token_stops_the_server_without_showing_it():
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"EMNIST_API_TOKENS": "good,s3cr\tet"})
    assert "EMNIST_API_TOKENS" in str(caught.value) and "s3cr" not in str(caught.value)


@pytest.mark.parametrize("origins", ["https://a.example/path", "a.example", "ftp://a.example",
                                     "https://*.example", "https://a.example?x"])
def test_cors_origins_must_be_origins(origins):
    with pytest.raises(SettingsError, match="EMNIST_CORS_ORIGINS"):
        load_settings(environ={"EMNIST_CORS_ORIGINS": origins})


def test_cors_origins_parse():
    settings, _ = load_settings({"CORS_ORIGINS": " https://a.example/, http://b.example:8080 "}, environ={})
    assert settings["CORS_ORIGINS"] == "https://a.example,http://b.example:8080"
    assert load_settings({"CORS_ORIGINS": "*"}, environ={})[0]["CORS_ORIGINS"] == "*"
