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

    from webapp.http import (
        fastpath,
        graphpipe_api,
        graphpipe_port,
        health,
        predict_api,
        tfserving_api,
        ui,
        v2_api,
        v2_fastpath,
    )
    from webapp.http.errors import register_error_handlers

    app.url_map.converters["model"] = tfserving_api.ModelNameConverter
    for module in (ui, tfserving_api, predict_api, health, graphpipe_api, v2_api):
        app.register_blueprint(module.blueprint)
    register_error_handlers(app, ui.error_page)
    app.before_request(_take_the_whole_body)

    app.extensions["settings"] = settings
    app.extensions["request_limits"] = settings.request_limits()
    core = None
    if settings.model_servers:
        # A front end: the models live in the model servers, and no ServerCore in this process.
        from webapp.remote.service import RemoteInferenceService

        app.extensions["inference_service"] = RemoteInferenceService(
            settings.model_servers, settings["MODEL_NAME"], settings["MODEL_SERVER_TIMEOUT_SECONDS"],
            settings["MODEL_SERVER_RETRIES"])
    else:
        core = ServerCore(settings.core_options())
        app.extensions["inference_service"] = core.service
    app.extensions["serving_core"] = core
    v2_fastpath.install(app)
    fastpath.install(app)
    graphpipe_port.install(app)
    if core is not None and settings["START_REGISTRY"]:
        core.start()
    return app


def _take_the_whole_body() -> None:
    """Every body is in memory and within MAX_CONTENT_LENGTH before a view runs (done once per request);
    a refused body is raised where a view reads it (``read_body``, the request's data and form), so each
    route answers it in its own shape."""
    from flask import current_app

    from webapp.http.request_body import buffer_body

    buffer_body(request.environ, current_app.config["MAX_CONTENT_LENGTH"])
