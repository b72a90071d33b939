"""The API document (``/openapi.json``) lists exactly the app's routes, each described, and the ``/docs``
page renders it from files the app serves itself."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from webapp.http import (
    api_document,
    graphpipe,
)
from webapp.http.api_operations import OPERATIONS
from webapp.http.app import route_groups
from webapp.http.calls import HttpCall
from webapp.http.refusals import GRAPHPIPE, JSON
from webapp.http.responses import HttpAnswer
from webapp.http.routing import FastRoutes, Route, RouteGroup

GROUPS = route_groups()
#: The routes that are pages and their files, not API: the form, the API document and its page, static files.
PAGE_BLUEPRINTS = ("ui", "api_page")
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}  # Flask adds them to every rule


def documented(document: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item}


def api_rules(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every rule Flask routes, less the pages."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.split(".")[0] in PAGE_BLUEPRINTS:
            continue
        for method in set(rule.methods or ()) - AUTOMATIC_METHODS:
            found.add((api_document.openapi_path(rule.rule), method))
    return found


@pytest.fixture(scope="module")
def document(app: Flask) -> dict:
    answer = app.test_client().get("/openapi.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    return answer.get_json()


def test_the_document_lists_exactly_the_routes_flask_serves(app, document):
    assert document["openapi"] == "3.1.0"
    assert documented(document) == api_rules(app)
    assert ("/v1/models/{name}/versions/{version}:predict", "POST") in documented(document)
    assert ("/healthz", "GET") in documented(document)


def test_the_fast_routes_are_documented_routes(app, document):
    fast = FastRoutes(lambda environ, start_response: [], app.extensions["front_end"], GROUPS)
    rules = {(api_document.openapi_path(route.rule), method) for _, _, route in fast.rules
             for method in set(route.methods) - AUTOMATIC_METHODS}
    assert rules and rules <= documented(document)


def test_every_route_handler_is_described():
    handlers = {route.handler for group in GROUPS for route in group.routes}
    assert handlers == set(OPERATIONS)


def test_with_api_tokens_every_route_but_the_probes_takes_a_bearer_token(make_app):
    with_tokens = make_app(API_TOKENS="s3cret-token-0123456789").test_client()
    answer = with_tokens.get("/openapi.json")  # open, like the page
    assert answer.status_code == 200
    document = answer.get_json()
    assert document["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    predict = document["paths"]["/v1/models/{name}:predict"]["post"]
    assert predict["security"] == [{"bearerToken": []}] and "401" in predict["responses"]
    probe = document["paths"]["/healthz"]["get"]
    assert "security" not in probe and "401" not in probe["responses"]
    assert with_tokens.post("/v1/models/emnist:predict", data=b"{}").status_code == 401


def test_without_api_tokens_no_route_takes_one(document):
    assert "securitySchemes" not in document["components"]
    operations = [operation for item in document["paths"].values() for operation in item.values()]
    assert not any("security" in operation for operation in operations)


def test_a_route_without_a_description_fails_the_document():
    def undescribed(call: HttpCall) -> HttpAnswer:
        return HttpAnswer.json({})

    group = RouteGroup("extra", "extra", JSON, (Route("/extra", ("GET",), undescribed),))
    with pytest.raises(KeyError, match="undescribed has no Operation"):
        api_document.build_document((*GROUPS, group), "emnist")


def test_path_parameters_take_the_rules_patterns(document):
    operation = document["paths"]["/v1/models/{name}/versions/{version}:predict"]["post"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert parameters["name"]["schema"]["pattern"] == "^[^/:]+$"
    assert parameters["version"]["schema"]["type"] == "integer"
    assert all(parameter["required"] and parameter["in"] == "path" for parameter in parameters.values())


def test_refusals_are_documented_in_the_routes_refusal_style(document):
    error = {"$ref": "#/components/schemas/Error"}
    predict = document["paths"]["/v1/models/{name}:predict"]["post"]["responses"]
    assert {"400", "404", "413", "415", "503"} <= set(predict)
    assert predict["400"]["content"]["application/json"]["schema"] == error
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]
    graphpipe_item = document["paths"]["/graphpipe/{name}"]
    assert set(graphpipe_item["post"]["responses"]["400"]["content"]) == {graphpipe.CONTENT_TYPE}
    assert graphpipe_item["get"]["responses"]["404"]["content"]["application/json"]["schema"] == error


def test_the_document_loads_as_openapi_and_every_operation_resolves(document):
    import schemathesis

    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) for item in document["paths"].values())


def test_an_unrouted_get_under_graphpipe_is_refused_in_json_like_its_gets(client):
    # GraphPipe's GETs answer JSON; a path no GET route takes got a flatbuffers InferResponse.
    answer = client.get("/graphpipe/a:b")
    assert answer.status_code == 404 and answer.get_json()["error"]
    posted = client.post("/graphpipe/a:b", data=b"")
    assert posted.status_code == 404 and posted.mimetype == graphpipe.CONTENT_TYPE


def test_refusal_for_takes_the_style_its_routes_of_that_method_agree_on():
    assert graphpipe.ROUTES.refusal_for("GET") == JSON
    assert graphpipe.ROUTES.refusal_for("HEAD") == JSON
    assert graphpipe.ROUTES.refusal_for("POST") == GRAPHPIPE
    assert graphpipe.ROUTES.refusal_for("PUT") == GRAPHPIPE  # no route of that method: the group's


def test_the_docs_page_renders_the_document_with_files_the_app_serves(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-url="/openapi.json"' in html
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attributes and not body.strip() for attributes, body in scripts)
    assert "<style" not in html and "http" not in html  # no inline style, nothing from another site
    for url in re.findall(r'(?:src|href)="(/[^"]+)"', html):
        assert client.get(url).status_code == 200, url
    bundle = client.get("/docs/swagger-ui/swagger-ui-bundle.js")
    assert b"SwaggerUIBundle" in bundle.data
    assert client.get("/docs/swagger-ui/index.html").status_code == 404  # only the files the page loads
    assert b"SwaggerUIBundle(" in client.get("/static/api-docs.js").data


def test_the_form_page_links_to_the_api_page(client):
    assert 'href="/docs"' in client.get("/").get_data(as_text=True)
