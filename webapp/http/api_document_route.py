"""``GET /openapi.json``: the API document (``webapp.http.api_document``), built once by the app factory."""

from __future__ import annotations

from flask import current_app

from webapp.http.calls import HttpCall
from webapp.http.refusals import JSON
from webapp.http.responses import HttpAnswer
from webapp.http.routing import Route, RouteGroup

PROTOCOL = "openapi"
#: Where the app factory keeps the document's bytes (``app.extensions``).
EXTENSION = "api_document"


def openapi_document(call: HttpCall) -> HttpAnswer:
    """The OpenAPI 3.1 document of every API route (a Flask route: the document lives on the app)."""
    return HttpAnswer(current_app.extensions[EXTENSION])


ROUTES = RouteGroup("api_document", PROTOCOL, JSON, (Route("/openapi.json", ("GET",), openapi_document),))
