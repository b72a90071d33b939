"""The API document: ``GET /openapi.json`` (``webapp.http.api_document``, built once by the app factory) and
``GET /docs``, the document rendered by Swagger UI from files this app serves.

Both are the page's, not an API's: open to every client like the form page (unless ``PAGE_NEEDS_TOKEN``),
so the page can load the document without a token.

Swagger UI's distribution comes from PyPI's ``flask-swagger-ui`` (its ``dist`` folder: Swagger UI 5,
which reads OpenAPI 3.1), served under ``/docs/swagger-ui/``: no CDN, so the page works offline and
behind a Content-Security-Policy of ``'self'``. The page has no inline script: ``static/api-docs.js``
starts Swagger UI.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, send_from_directory

from webapp.http.media import JSON_MEDIA_TYPE

blueprint = Blueprint("api_page", __name__)

#: Where the app factory keeps the document's bytes (``app.extensions``).
EXTENSION = "api_document"

#: Swagger UI's files, as installed with the flask-swagger-ui package.
SWAGGER_UI_DIST = Path(str(files("flask_swagger_ui") / "dist"))
#: The files the page loads; nothing else of the folder is served.
SWAGGER_UI_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})


@blueprint.route("/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of every API route."""
    return Response(current_app.extensions[EXTENSION], mimetype=JSON_MEDIA_TYPE)


@blueprint.route("/docs", methods=["GET"])
def api_docs() -> str:
    return render_template("api_docs.html")


@blueprint.route("/docs/swagger-ui/<name>", methods=["GET"])
def swagger_ui_file(name: str) -> Response:
    if name not in SWAGGER_UI_FILES:
        abort(404)
    return send_from_directory(SWAGGER_UI_DIST, name, max_age=3600)
