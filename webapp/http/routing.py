"""HTTP routes declared once: each protocol's route group, served by Flask and, for the hot routes, below it.

A protocol module declares a ``RouteGroup``: its routes (rule, methods, handler), the protocol name the
core's requests carry, and how its refusals look (``webapp.http.refusals``). From that one declaration:

* ``blueprint()`` registers every route with Flask (a view that runs the handler);
* ``FastRoutes`` answers the routes marked ``fast`` below Flask, matched by the same rules (each compiled
  once into one regular expression with Werkzeug's own converters, so a path means the same to both),
  without Flask's per-request cost: on a small model, Flask's request context, URL dispatch and Response
  objects cost more CPU than the model call;
* the error handlers find a path's style from the groups' own rules (their first path segment), so a new
  route or group needs no list kept elsewhere.

Either way the handler runs through ``answer``: same handler, same refusal table, same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import BaseConverter, Map, ValidationError

from serving_core.errors import ServingError
from serving_core.observation import note_error
from webapp.http.calls import FrontEnd, HttpCall
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
    """The ``HttpCall`` of the Flask request being handled, for views that render pages themselves (its
    route: the rule that matched, "" for a path no rule matched: the metrics' labels stay bounded)."""
    rule = request.url_rule.rule if request.url_rule is not None else ""
    return HttpCall(current_app.extensions["front_end"], request.environ, protocol, rule, request)


def answer(front_end: FrontEnd, group: RouteGroup, route: Route, environ: dict, view_args: dict[str, Any],
           http_request: Any = None) -> HttpAnswer:
    """Run a route's handler: its answer, or its refusal in the group's style (logged when unexpected).
    ``http_request``: Flask's request, when Flask routed it (else one is made if the handler asks)."""
    call = HttpCall(front_end, environ, group.protocol, route.rule, http_request)
    try:
        return route.handler(call, **view_args)
    except ServingError as exc:
        error = exc
    except HTTPException as exc:
        error = http_exception_error(exc, front_end.settings["MAX_CONTENT_LENGTH"])
    except Exception:
        error = internal_error(f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}")
    note_error(error)
    return refusal_answer(error, route.refusal or group.refusal)


def _flask_view(group: RouteGroup, route: Route) -> Callable[..., Response]:
    def view(**view_args: Any) -> Response:
        return answer(current_app.extensions["front_end"], group, route, request.environ, view_args,
                      request).response()

    view.__name__ = route.handler.__name__
    view.__doc__ = route.handler.__doc__
    return view


def status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}"


#: A variable part of a rule: ``<name>`` or ``<converter:name>`` (converters without arguments here).
_VARIABLE = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


class CompiledRule:
    """One declared rule as an anchored regular expression, read with the converters Flask's URL map uses
    (their ``regex`` and ``to_python``), so the fast path and Flask agree on what a path means."""

    def __init__(self, rule: str, methods: Sequence[str], converters: dict[str, type[BaseConverter]]) -> None:
        url_map = Map(converters=converters)
        parts: list[str] = []
        self.converters: dict[str, BaseConverter] = {}
        position = 0
        for variable in _VARIABLE.finditer(rule):
            parts.append(re.escape(rule[position:variable.start()]))
            converter = url_map.converters[variable["converter"] or "default"](url_map)
            parts.append(f"(?P<{variable['name']}>{converter.regex})")
            self.converters[variable["name"]] = converter
            position = variable.end()
        parts.append(re.escape(rule[position:]))
        self.pattern = re.compile("".join(parts) + r"\Z")
        self.methods = frozenset(methods) | ({"HEAD"} if "GET" in methods else set())

    def match(self, path: str) -> dict[str, Any] | None:
        """The view arguments of ``path``, or None when it is not this rule's."""
        found = self.pattern.match(path)
        if found is None:
            return None
        try:
            return {name: self.converters[name].to_python(value) for name, value in found.groupdict().items()}
        except ValidationError:
            return None


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
        routes = [(group, route) for group in groups for route in group.routes
                  if route.fast or port is not None]
        # Static rules before those with variables, as Werkzeug orders them ("/control/is_ready" before
        # "/<path:path>").
        routes.sort(key=lambda pair: len(_VARIABLE.findall(pair[1].rule)))
        self.rules = [(CompiledRule(route.rule, route.methods, CONVERTERS), group, route)
                      for group, route in routes]
        self.max_content_length = front_end.settings["MAX_CONTENT_LENGTH"]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.port is not None and environ.get("SERVER_PORT") != self.port:
            return self.wsgi_app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        allowed: set[str] = set()
        for rule, group, route in self.rules:
            view_args = rule.match(path)
            if view_args is None:
                continue
            if method not in rule.methods:
                allowed |= rule.methods
                continue
            buffer_body(environ, self.max_content_length)
            return self._write(start_response, answer(self.front_end, group, route, environ, view_args))
        if self.port is None:
            return self.wsgi_app(environ, start_response)
        return self._write(start_response, self._unrouted(method, allowed))

    @staticmethod
    def _unrouted(method: str, allowed: set[str]) -> HttpAnswer:
        """A request on the port that no route takes (not one of the protocol's: plain JSON)."""
        if allowed:
            error = ServingError(f"{method} is not supported here: allowed {', '.join(sorted(allowed))}",
                                 http_status=405)
        else:
            error = ServingError("no such route on this port", http_status=404)
        return refusal_answer(error, JSON)

    @staticmethod
    def _write(start_response: Callable, result: HttpAnswer) -> list[bytes]:
        start_response(status_line(result.status), result.wsgi_headers())
        return [result.body]
