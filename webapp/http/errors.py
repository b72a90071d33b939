"""Flask's error handlers: refusals raised outside a route's handler (unrouted paths, the page's views,
a body refused before any view) answered through the one table of ``webapp.http.refusals``.

Which style a path gets comes from the route groups' own rules (their first path segment): a path of the
APIs is answered in its group's style, anything else is the page. A group may word its unrouted paths
itself (TF Serving answers any request it cannot route "Malformed request", HTTP 400).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from serving_core.errors import ServingError
from serving_core.observation import note_error
from webapp.http.refusals import GRAPHPIPE, PAGE, http_exception_error, internal_error, refusal_answer
from webapp.http.routing import RouteGroup, first_segment

#: Renders the HTML page for a refusal: (the error, its HTTP status) -> the page.
PageRenderer = Callable[[BaseException, int], Response]


def register_error_handlers(app: Flask, groups: Sequence[RouteGroup], render_page: PageRenderer) -> None:
    """Install the handlers on ``app``: API paths get their group's refusal, pages ``render_page``'s words."""
    owners = {segment: group for group in groups for segment in group.first_segments()}
    graphpipe_port = str(app.config.get("GRAPHPIPE_PORT") or "")

    def refusal_style(environ: dict) -> str:
        """The style a request's refusal takes, from its path (and GraphPipe's own port)."""
        if graphpipe_port and environ.get("SERVER_PORT") == graphpipe_port:
            return GRAPHPIPE
        group = owners.get(first_segment(environ.get("PATH_INFO", "")))
        return PAGE if group is None else group.refusal_for(environ.get("REQUEST_METHOD", "GET"))

    app.extensions["refusal_style"] = refusal_style

    def refuse(error: ServingError, original: BaseException) -> Response:
        note_error(error)
        group = owners.get(first_segment(request.path))
        style = PAGE if group is None else group.refusal_for(request.method)
        if style == PAGE:
            return render_page(original, error.http_status)
        return refusal_answer(error, style).response()

    @app.errorhandler(ServingError)
    def handle_serving_error(error: ServingError) -> Response:
        return refuse(error, error)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        group = owners.get(first_segment(request.path))
        if group is not None and group.unrouted is not None and error.code in (404, 405):
            return refuse(group.unrouted(request.method, request.path), error)
        return refuse(http_exception_error(error, app.config.get("MAX_CONTENT_LENGTH")), error)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        return refuse(internal_error(f"{request.method} {request.path}"), error)
