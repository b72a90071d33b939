"""The application factory: ``create_app()`` builds the Flask app over one serving core.

Nothing happens at import. ``create_app`` reads the settings (``webapp.settings``), builds the serving
core and, unless ``START_REGISTRY`` is false, starts it: models loaded synchronously, then watched in a
background thread. With ``MODEL_SERVER`` set there is no core: the same routes are answered by remote
model servers (``webapp.remote``). Under gunicorn each worker calls it after the fork (no ``preload_app``), so
TensorFlow's threads and the watcher belong to the worker that uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, request

from serving_core import metrics
from serving_core.server_core import ServerCore
from webapp.settings import load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Application factory: defaults < ``EMNIST_*`` environment variables < ``config``."""
    from webapp.http.form_request import InMemoryFormRequest

    app = Flask(
        __name__,
        template_folder=str(REPO_ROOT / "templates"),
        static_folder=str(REPO_ROOT / "static"),
    )
    app.request_class = InMemoryFormRequest
    settings, flask_keys = load_settings(config, passthrough=frozenset(app.config))
    app.config.update(settings)
    app.config.update(flask_keys)
    app.json.sort_keys = False

    from webapp.api_tokens import parse_tokens
    from webapp.http import api_page, graphpipe, ui
    from webapp.http.api_document import build_document
    from webapp.http.calls import FrontEnd
    from webapp.http.errors import register_error_handlers
    from webapp.http.observe import ObserveRequests
    from webapp.http.responses import json_bytes
    from webapp.http.routing import CONVERTERS, FastRoutes
    from webapp.request_outcome import RequestOutcomes

    groups = route_groups()
    app.url_map.converters.update(CONVERTERS)
    app.register_blueprint(ui.blueprint)
    app.register_blueprint(api_page.blueprint)
    for group in groups:
        app.register_blueprint(group.blueprint())
    register_error_handlers(app, groups, ui.error_page)
    app.before_request(_take_the_whole_body)

    recorder = metrics.enable() if settings["METRICS"] else None
    core = None
    if settings.model_servers:
        # A front end: the models live in the model servers, and no ServerCore in this process.
        from webapp.remote.service import RemoteInferenceService

        service = RemoteInferenceService(
            settings.model_servers, settings["MODEL_NAME"], settings["MODEL_SERVER_TIMEOUT_SECONDS"],
            settings["MODEL_SERVER_RETRIES"])
    else:
        core = ServerCore(settings.core_options())
        service = core.service
    front_end = FrontEnd(service, settings.server_limits(), settings)
    app.extensions["settings"] = settings
    app.extensions["inference_service"] = service
    app.extensions["serving_core"] = core
    app.extensions["front_end"] = front_end
    app.extensions[api_page.EXTENSION] = json_bytes(
        build_document(groups, settings["MODEL_NAME"], bool(parse_tokens(settings["API_TOKENS"]))))
    if settings["FAST_PREDICT_PATH"]:
        app.wsgi_app = FastRoutes(app.wsgi_app, front_end, groups)
    if settings["GRAPHPIPE_PORT"]:
        app.wsgi_app = FastRoutes(app.wsgi_app, front_end, (graphpipe.PORT_ROUTES,),
                                  port=settings["GRAPHPIPE_PORT"])
    _guard(app, groups, graphpipe.PORT_ROUTES)
    app.wsgi_app = ObserveRequests(app.wsgi_app, RequestOutcomes(recorder, settings["ACCESS_LOG"]))
    if core is not None and settings["START_REGISTRY"]:
        core.start()
    return app


def route_groups() -> tuple[Any, ...]:
    """Every API route group the app serves (the API document and its test list the same ones)."""
    from webapp.http import graphpipe, health, monitoring, predict_api, sagemaker, tfserving_rest, v2_rest

    return (tfserving_rest.ROUTES, predict_api.ROUTES, health.ROUTES, graphpipe.ROUTES, v2_rest.ROUTES,
            monitoring.ROUTES, sagemaker.ROUTES)


def _guard(app: Flask, groups: tuple[Any, ...], port_group: Any) -> None:
    """Wrap the app (fast paths and GraphPipe's port included) in the token check and CORS when configured,
    and the security headers: every answer of the app passes through them (and then, outermost, through
    the request's observation: its id, metrics and access-log line)."""
    from webapp.api_tokens import ApiTokens, parse_tokens
    from webapp.http.bearer_tokens import RequireToken
    from webapp.http.cors import Cors
    from webapp.http.path_kinds import PathKinds
    from webapp.http.security_headers import SecurityHeaders

    settings = app.extensions["settings"]
    kinds = PathKinds(groups, port_group, settings["GRAPHPIPE_PORT"])
    tokens = ApiTokens(parse_tokens(settings["API_TOKENS"]))
    if tokens.required:
        app.wsgi_app = RequireToken(app.wsgi_app, tokens, kinds, app.extensions["refusal_style"],
                                    settings["PAGE_NEEDS_TOKEN"])
    if settings["CORS_ORIGINS"]:
        app.wsgi_app = Cors(app.wsgi_app, settings["CORS_ORIGINS"].split(","), kinds)
    app.wsgi_app = SecurityHeaders(app.wsgi_app)


def _take_the_whole_body() -> None:
    """Every body is in memory and within MAX_CONTENT_LENGTH before a view runs (done once per request);
    a refused body is raised where a view reads it (``read_body``, the request's data and form), so each
    route answers it in its own shape."""
    from flask import current_app

    from webapp.http.request_body import buffer_body

    buffer_body(request.environ, current_app.config["MAX_CONTENT_LENGTH"])
