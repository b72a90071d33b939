"""Liveness and readiness probes: ``/healthz`` (the process answers) and ``/readyz`` (the model answers)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from webapp.http.context import serving
from webapp.http.responses import json_response

blueprint = Blueprint("health", __name__)


@blueprint.route("/healthz", methods=["GET"])
def healthz() -> Response:
    """Liveness: the process answers HTTP (no model needed)."""
    return json_response({"status": "ok"})


@blueprint.route("/readyz", methods=["GET"])
def readyz() -> Response:
    """Readiness: every configured model is loaded and the default one answers a prediction."""
    name = current_app.config["MODEL_NAME"]
    readiness = serving().readiness(name)
    if not readiness.ready:
        return json_response({"status": "not ready", "error": readiness.error}, 503)
    return json_response({"status": "ready", "model": name, "version": str(readiness.model.version)})
