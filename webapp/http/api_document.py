"""The OpenAPI 3.1 document of the HTTP API, built from the route groups' own declarations.

Each ``Route`` gives its path and methods; ``webapp.http.api_operations`` pairs its handler with what it
takes and answers; this module writes them as OpenAPI: Flask rules as path templates (the converters'
patterns as the parameters' schemas), one operation per rule and method, and each refusal status in the
route's refusal style (TF Serving's ``{"error": ...}`` JSON, or GraphPipe's ``InferResponse``). So the
document lists exactly the declared routes; a handler without an operation fails the build.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from webapp.http.api_operations import BINARY, Operation, Schema, operation_of
from webapp.http.graphpipe import CONTENT_TYPE as GRAPHPIPE_MEDIA_TYPE
from webapp.http.refusals import GRAPHPIPE
from webapp.http.routing import ModelNameConverter, Route, RouteGroup
from webapp.server_info import SERVER_NAME, server_version

OPENAPI_VERSION = "3.1.0"
#: ``<converter:name>`` or ``<name>`` in a Werkzeug rule.
RULE_VARIABLE = re.compile(r"<(?:(?P<converter>[a-zA-Z_]\w*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_]\w*)>")
#: The schema of each converter's values, as the rule matches them.
CONVERTER_SCHEMAS: dict[str, Schema] = {
    # "." and ".." are no names: a client removes them from the URL as dot segments.
    "model": {"type": "string", "pattern": f"^{ModelNameConverter.regex}$", "not": {"enum": [".", ".."]}},
    "int": {"type": "integer", "minimum": 0},
    "default": {"type": "string", "pattern": "^[^/]+$", "not": {"enum": [".", ".."]}},
    "path": {"type": "string"},
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
#: The security scheme of API tokens (``Authorization: Bearer <token>``).
BEARER = "bearerToken"
ERROR_SCHEMA: Schema = {
    "type": "object",
    "description": "a refusal: the reason, worded for a program",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
PARAMETER_WORDS = {"name": "the model's name", "version": "the model's version",
                   "label": "a version label (lifecycle)"}
DESCRIPTION = (
    "Every HTTP route of the EMNIST ByClass model server: TensorFlow Serving's REST API, the app's own "
    "/predict, the Open Inference Protocol (V2) REST API, GraphPipe, the health probes and the Prometheus "
    "metrics. Refusals are {\"error\": message} JSON with the refusal's status (GraphPipe's POST: an "
    "InferResponse holding the error). With GRAPHPIPE_PORT set, GraphPipe also has a port of its own (every "
    "POST a Request for the default model). docs/serving-api.md and docs/serving-protocols.md explain each "
    "route."
)


def openapi_path(rule: str) -> str:
    """``/v1/models/<model:name>:predict`` -> ``/v1/models/{name}:predict``."""
    return RULE_VARIABLE.sub(lambda match: "{" + match["name"] + "}", rule)


def path_parameters(rule: str, model_name: str) -> list[dict[str, Any]]:
    """The rule's variables as required path parameters, their schema from the converter."""
    parameters = []
    for match in RULE_VARIABLE.finditer(rule):
        name, converter = match["name"], match["converter"] or "default"
        schema = dict(CONVERTER_SCHEMAS[converter])
        if name == "name":
            schema["examples"] = [model_name]
        parameters.append({"name": name, "in": "path", "required": True,
                           "description": PARAMETER_WORDS.get(name, name), "schema": schema})
    return parameters


def refusal_response(status: int, style: str) -> dict[str, Any]:
    """A refusal status in a route's refusal style."""
    if style == GRAPHPIPE:
        content = {GRAPHPIPE_MEDIA_TYPE: {"schema": BINARY}}
        words = "refused: an InferResponse (flatbuffers) holding the error"
    else:
        content = {"application/json": {"schema": ERROR_REF}}
        words = "refused: {\"error\": message}"
    return {"description": f"{HTTP_STATUS_CODES.get(status, 'refused')}: {words}", "content": content}


def operation_object(group: RouteGroup, route: Route, operation: Operation, operation_id: str,
                     model_name: str, tokens: bool) -> dict[str, Any]:
    responses = dict(operation.responses)
    style = route.refusal or group.refusal
    parameters = [*path_parameters(route.rule, model_name), *operation.parameters]
    refusals = set(operation.refusals)
    needs_token = tokens and not route.probe
    if needs_token:
        refusals.add(401)
    if any(parameter["in"] == "path" for parameter in parameters):
        refusals.add(404)  # a value the rule does not match (a "/" in a name): no route, or another one's 404
    for status in sorted(refusals):
        if str(status) in responses:
            raise ValueError(f"{operation_id}: status {status} is both an answer and a refusal")
        responses[str(status)] = refusal_response(status, style)
    document: dict[str, Any] = {"operationId": operation_id, "summary": operation.summary,
                                "tags": [operation.tag]}
    if operation.description:
        document["description"] = operation.description
    if parameters:
        document["parameters"] = parameters
    if operation.request_body is not None:
        document["requestBody"] = operation.request_body
    if needs_token:
        document["security"] = [{BEARER: []}]
    document["responses"] = dict(sorted(responses.items()))
    return document


def declared_operations(groups: Iterable[RouteGroup]) -> Iterator[tuple[RouteGroup, Route, str]]:
    """(group, route, method) of every declared route and method."""
    for group in groups:
        for route in group.routes:
            for method in route.methods:
                yield group, route, method


def build_document(groups: Iterable[RouteGroup], model_name: str, tokens: bool = False) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``groups``' routes (``model_name``: the example of a model name).

    ``tokens``: the server requires API tokens (``API_TOKENS``), so every route but the probes takes a bearer
    token and may answer 401.
    """
    paths: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    tags: list[str] = []
    for group, route, method in declared_operations(groups):
        operation = operation_of(route.handler)
        base_id = f"{group.name}.{route.handler.__name__}"
        operation_id, count = base_id, 1
        while operation_id in taken:
            count += 1
            operation_id = f"{base_id}_{count}"
        taken.add(operation_id)
        if operation.tag not in tags:
            tags.append(operation.tag)
        item = paths.setdefault(openapi_path(route.rule), {})
        item[method.lower()] = operation_object(group, route, operation, operation_id, model_name, tokens)
    components: dict[str, Any] = {"schemas": {"Error": ERROR_SCHEMA}}
    if tokens:
        components["securitySchemes"] = {BEARER: {"type": "http", "scheme": "bearer"}}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": f"{SERVER_NAME}: EMNIST ByClass model server", "version": server_version(),
                 "description": DESCRIPTION},
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": components,
    }
