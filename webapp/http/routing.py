"""HTTP routes declared once: each protocol's route group, served by Flask and, for the hot routes, below it.

A protocol module declares a ``RouteGroup``: its routes (rule, methods, handler), the protocol name the
core's requests carry, and how its refusals look (``webapp.http.refusals``). From that one declaration:

* ``blueprint()`` registers every route with Flask (a view that runs the handler);
* ``FastRoutes`` answers the routes marked ``fast`` below Flask, matched by the same rules (a Werkzeug
  ``Map`` of them), without Flask's per-request cost: on a small model, Flask's request context, URL
  dispatch and Response objects cost more CPU than the model call;
* the error handlers find a path's style from the groups' own rules (their first path segment), so a new
  route or group needs no list kept elsewhere.

Either way the handler runs through ``answer``: same handler, same refusal table, same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import BaseConverter, Map, Rule

from serving_core.errors import ServingError
from webapp.http.calls import FrontEnd, HttpCall
from webapp.http.form_request import InMemoryFormRequest
from webapp.http.refusals import JSON, http_exception_error, internal_error, refusal_answer
from webapp.http.request_body import buffer_body
from webapp.http.responses import HttpAnswer

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
#: ``handler(call, **view_args)``: the view arguments are the rule's converters' values.
Handler = Callable[..., HttpAnswer]


class ModelNameConverter(BaseConverter):
    """A model name or version label: TF Serving's ``[^/:]+``."""

    regex = r"[^/:]+"


CONVERTERS = {"model": ModelNameConverter}


@dataclass(frozen=True)
class Route:
    rule: str
    methods: tuple[str, ...]
    handler: Handler
    #: Also answered below Flask (when FAST_PREDICT_PATH is on).
    fast: bool = False
    #: This route's refusal style, when not its group's.
    refusal: str | None = None
    #: A health probe: open to every client, even with API tokens configured (``webapp.http.path_kinds``).
    probe: bool = False


@dataclass(frozen=True)
class RouteGroup:
    """One protocol's routes, the protocol name its requests carry, and its refusal style."""

    name: str
    protocol: str
    refusal: str
    routes: tuple[Route, ...]
    #: The refusal of a request under this group's paths that no route takes (method, path -> error);
    #: None: Werkzeug's 404 or 405.
    unrouted: Callable[[str, str], ServingError] | None = None

    def blueprint(self) -> Blueprint:
        """Every route as a Flask view of its handler."""
        blueprint = Blueprint(self.name, __name__)
        taken: set[str] = set()
        for index, route in enumerate(self.routes):
            # The handler's name (url_for("predict_api.predict")); its further rules get a number.
            endpoint = route.handler.__name__
            endpoint = endpoint if endpoint not in taken else f"{endpoint}_{index}"
            taken.add(endpoint)
            blueprint.add_url_rule(route.rule, endpoint=endpoint,
                                   view_func=_flask_view(self, route), methods=list(route.methods))
        return blueprint

    def refusal_for(self, method: str) -> str:
        """The refusal style of a request under this group's paths that no route answered: its routes of
        that method's style when they agree (GraphPipe's GETs answer JSON), else the group's."""
        method = "GET" if method == "HEAD" else method
        styles = {route.refusal or self.refusal for route in self.routes if method in route.methods}
        return styles.pop() if len(styles) == 1 else self.refusal

    def first_segments(self) -> set[str]:
        """The first path segment of each route ("/v1/", "/v2", "/predict"...): paths this group owns."""
        return {first_segment(route.rule) for route in self.routes}


def first_segment(path: str) -> str:
    """"/v1/models/x" -> "/v1/", "/v2" -> "/v2", "/predict" -> "/predict"."""
    head, slash, _ = path[1:].partition("/")
    return "/" + head + slash


def current_call(protocol: str) -> HttpCall:
    """The ``HttpCall`` of the Flask request being handled, for views that render pages themselves."""
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    return HttpCall(current_app.extensions["front_end"], request, protocol, rule)


def answer(front_end: FrontEnd, group: RouteGroup, route: Route, http_request: Any,
           view_args: dict[str, Any]) -> HttpAnswer:
    """Run a route's handler: its answer, or its refusal in the group's style (logged when unexpected)."""
    call = HttpCall(front_end, http_request, group.protocol, route.rule)
    try:
        return route.handler(call, **view_args)
    except ServingError as exc:
        error = exc
    except HTTPException as exc:
        error = http_exception_error(exc, front_end.settings["MAX_CONTENT_LENGTH"])
    except Exception:
        error = internal_error(f"{http_request.method} {http_request.path}")
    return refusal_answer(error, route.refusal or group.refusal)


def _flask_view(group: RouteGroup, route: Route) -> Callable[..., Response]:
    def view(**view_args: Any) -> Response:
        return answer(current_app.extensions["front_end"], group, route, request, view_args).response()

    view.__name__ = route.handler.__name__
    view.__doc__ = route.handler.__doc__
    return view


def status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}"


class FastRoutes:
    """WSGI middleware answering some declared routes itself, before the wrapped (Flask) app.

    ``port``: answer only requests that came in on that listening port (WSGI ``SERVER_PORT``, the
    socket's, not anything the client sends), and answer every one of them (GraphPipe's own port);
    without it, the routes marked ``fast`` are answered and everything else goes to the wrapped app.
    """

    def __init__(self, wsgi_app: WSGIApp, front_end: FrontEnd, groups: Sequence[RouteGroup],
                 port: int | None = None) -> None:
        self.wsgi_app = wsgi_app
        self.front_end = front_end
        self.port = None if port is None else str(port)
        self.targets: dict[str, tuple[RouteGroup, Route]] = {}
        rules = []
        for group in groups:
            for index, route in enumerate(group.routes):
                if route.fast or port is not None:
                    endpoint = f"{group.name}.{index}"
                    self.targets[endpoint] = (group, route)
                    rules.append(Rule(route.rule, endpoint=endpoint, methods=list(route.methods)))
        self.groups = tuple(groups)
        self.urls = Map(rules, converters=CONVERTERS).bind("localhost")
        self.max_content_length = front_end.settings["MAX_CONTENT_LENGTH"]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.port is not None and environ.get("SERVER_PORT") != self.port:
            return self.wsgi_app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            endpoint, view_args = self.urls.match(environ.get("PATH_INFO", ""), method)
        except HTTPException as exc:
            if self.port is None:
                return self.wsgi_app(environ, start_response)
            return self._write(start_response, self._unrouted(exc, method))
        group, route = self.targets[endpoint]
        buffer_body(environ, self.max_content_length)
        return self._write(start_response, answer(self.front_end, group, route, InMemoryFormRequest(environ),
                                                  view_args))

    def _unrouted(self, exc: HTTPException, method: str) -> HttpAnswer:
        """A request on the port that no route takes (not one of the protocol's: plain JSON)."""
        if isinstance(exc, MethodNotAllowed):
            allowed = ", ".join(exc.valid_methods or [])
            error = ServingError(f"{method} is not supported here: allowed {allowed}", http_status=405)
        elif isinstance(exc, NotFound):
            error = ServingError("no such route on this port", http_status=404)
        else:
            error = http_exception_error(exc, self.max_content_length)
        return refusal_answer(error, JSON)

    @staticmethod
    def _write(start_response: Callable, result: HttpAnswer) -> list[bytes]:
        start_response(status_line(result.status), result.wsgi_headers())
        return [result.body]
