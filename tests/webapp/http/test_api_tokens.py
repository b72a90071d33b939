"""EMNIST_API_TOKENS on the HTTP front end: the APIs need a bearer token (401 JSON without a valid one, on
the Flask routes, the fast paths and GraphPipe's port alike); probes stay open; the page stays open unless
PAGE_NEEDS_TOKEN. And CORS (EMNIST_CORS_ORIGINS): preflights answered, allowed origins echoed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from emnist_contract.tensors import NUM_PIXELS
from tests.support.paths import SERVED_MODEL
from tests.support.servers import serving_wsgi
from webapp.api_tokens import MISSING_TOKEN, WRONG_TOKEN

TOKENS = ("first-token", "second-token")
MODEL = f"/v1/models/{SERVED_MODEL}"
ZEROS = {"instances": [[0.0] * NUM_PIXELS]}
ALLOWED = "https://allowed.example"

#: (method, path, JSON body): API routes of every family (Flask and fast path).
API_CALLS = [
    ("POST", f"{MODEL}:predict", ZEROS),  # fast path
    ("GET", MODEL, None),
    ("GET", f"{MODEL}/metadata", None),
    ("POST", "/predict", {"instances": [[0.0] * NUM_PIXELS]}),
    ("GET", "/v2", None),
    ("GET", f"/v2/models/{SERVED_MODEL}", None),
    ("POST", f"/v2/models/{SERVED_MODEL}/infer", {"inputs": []}),  # fast path
    ("GET", "/v1/unknown", None),
]
PROBES = ["/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"]


@pytest.fixture(scope="module")
def urls(make_module_app) -> Iterator[tuple[str, str]]:
    """(REST URL, GraphPipe port URL) of an app with two tokens and CORS for one origin."""
    with serving_wsgi() as graphpipe_server, serving_wsgi() as rest_server:
        app = make_module_app(GRAPHPIPE_PORT=graphpipe_server.server_port, API_TOKENS=",".join(TOKENS),
                              CORS_ORIGINS=ALLOWED)
        graphpipe_server.app = rest_server.app = app
        yield (f"http://127.0.0.1:{rest_server.server_port}", f"http://127.0.0.1:{graphpipe_server.server_port}")


def call(url: str, method: str, path: str, body: object, **headers: str) -> requests.Response:
    return requests.request(method, url + path, json=body, headers=headers, timeout=30)


@pytest.mark.parametrize(("method", "path", "body"), API_CALLS, ids=[f"{m} {p}" for m, p, _ in API_CALLS])
def test_an_api_call_without_a_valid_token_gets_401(urls, method, path, body):
    for headers, message in (({}, MISSING_TOKEN), ({"Authorization": "Bearer not-a-token"}, WRONG_TOKEN),
                             ({"Authorization": "Basic Zmlyc3QtdG9rZW4="}, MISSING_TOKEN),
                             ({"Authorization": "Bearer"}, MISSING_TOKEN),
                             ({"Authorization": "Bearer first-token-and-more"}, WRONG_TOKEN),
                             ({"Authorization": "Bearer first"}, WRONG_TOKEN)):
        answer = call(urls[0], method, path, body, **headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json() == {"error": message}
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("method", "path", "body"), API_CALLS, ids=[f"{m} {p}" for m, p, _ in API_CALLS])
def test_each_configured_token_is_let_through(urls, method, path, body):
    for token in TOKENS:
        answer = call(urls[0], method, path, body, Authorization=f"Bearer {token}")
        assert answer.status_code != 401, answer.text
    assert call(urls[0], method, path, body, Authorization=f"bearer {TOKENS[0]}").status_code != 401


def test_a_good_token_gets_the_answer(urls):
    answer = call(urls[0], "POST", f"{MODEL}:predict", ZEROS, Authorization=f"Bearer {TOKENS[1]}")
    assert answer.status_code == 200 and len(answer.json()["predictions"][0]) == 62


@pytest.mark.parametrize("path", PROBES)
def test_probes_stay_open(urls, path):
    assert requests.get(urls[0] + path, timeout=30).status_code == 200


def test_the_page_stays_open(urls):
    assert requests.get(urls[0] + "/", timeout=30).status_code == 200
    assert requests.get(urls[0] + "/static/style.css", timeout=30).status_code == 200


def test_graphpipe_needs_the_token_and_reads_the_refusal_as_graphpipe(urls):
    """GraphPipe's route answers every refusal as an InferResponse holding the error: the 401 too."""
    path = f"{urls[0]}/graphpipe/{SERVED_MODEL}"
    refused = requests.post(path, data=b"anything", timeout=30)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.headers["Content-Type"] == "application/octet-stream"
    assert MISSING_TOKEN.encode() in refused.content
    assert requests.get(path, timeout=30).status_code == 401
    assert requests.get(path, headers={"Authorization": f"Bearer {TOKENS[0]}"}, timeout=30).status_code == 200


def test_the_graphpipe_port_needs_the_token_but_its_probes_do_not(urls):
    port = urls[1]
    refused = requests.post(port + "/", data=b"anything", timeout=30)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    # A GraphPipe client reads the error from an InferResponse, as every GraphPipe refusal.
    assert refused.headers["Content-Type"] == "application/octet-stream"
    assert MISSING_TOKEN.encode() in refused.content
    assert requests.get(port + "/any/path", timeout=30).status_code == 401
    assert requests.get(port + "/any/path", headers={"Authorization": f"Bearer {TOKENS[0]}"},
                        timeout=30).status_code == 200
    assert requests.get(port + "/control/is_alive", timeout=30).status_code == 200
    assert requests.get(port + "/control/is_ready", timeout=30).status_code == 200


def test_the_page_needs_the_token_when_configured(make_app):
    client = make_app(API_TOKENS=TOKENS[0], PAGE_NEEDS_TOKEN=True).test_client()
    for path in ("/", "/static/style.css"):
        refused = client.get(path)
        assert refused.status_code == 401 and refused.get_json() == {"error": MISSING_TOKEN}
        assert client.get(path, headers={"Authorization": f"Bearer {TOKENS[0]}"}).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_without_tokens_everything_is_open_and_no_cors(make_app):
    client = make_app().test_client()
    answer = client.post(f"{MODEL}:predict", json=ZEROS, headers={"Origin": ALLOWED})
    assert answer.status_code == 200
    assert "Access-Control-Allow-Origin" not in answer.headers and "Vary" not in answer.headers
    preflight = client.options(f"{MODEL}:predict", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


@pytest.mark.parametrize("path", [f"{MODEL}:predict", "/predict", f"/v2/models/{SERVED_MODEL}/infer", MODEL])
def test_a_preflight_from_an_allowed_origin_is_answered(urls, path):
    answer = requests.options(urls[0] + path, timeout=30, headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert answer.status_code == 204 and answer.content == b""
    assert answer.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    allowed_headers = answer.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert "Origin" in answer.headers["Vary"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_a_preflight_from_another_origin_is_refused(urls):
    answer = requests.options(urls[0] + f"{MODEL}:predict", timeout=30, headers={
        "Origin": "https://other.example", "Access-Control-Request-Method": "POST"})
    assert answer.status_code == 403 and "https://other.example" in answer.json()["error"]
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_answers_echo_an_allowed_origin_only(urls):
    token = {"Authorization": f"Bearer {TOKENS[0]}"}
    allowed = call(urls[0], "POST", f"{MODEL}:predict", ZEROS, Origin=ALLOWED, **token)
    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in allowed.headers["Vary"]
    # A refusal too: the browser's script can read why (here: the token is missing).
    refused = call(urls[0], "POST", f"{MODEL}:predict", ZEROS, Origin=ALLOWED)
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == ALLOWED
    other = call(urls[0], "POST", f"{MODEL}:predict", ZEROS, Origin="https://other.example", **token)
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers
    assert "Origin" in other.headers["Vary"]
    page = requests.get(urls[0] + "/", headers={"Origin": ALLOWED}, timeout=30)
    assert "Access-Control-Allow-Origin" not in page.headers


def test_any_origin(make_app):
    client = make_app(CORS_ORIGINS="*").test_client()
    answer = client.options("/predict", headers={"Origin": "https://anyone.example",
                                                 "Access-Control-Request-Method": "POST"})
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "https://anyone.example"
