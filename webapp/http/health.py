"""Liveness and readiness probes: ``/healthz`` (the process answers) and ``/readyz`` (the model answers)."""

from __future__ import annotations

from webapp.http.calls import HttpCall
from webapp.http.refusals import JSON
from webapp.http.responses import HttpAnswer
from webapp.http.routing import Route, RouteGroup


def healthz(call: HttpCall) -> HttpAnswer:
    """Liveness: the process answers HTTP (no model needed)."""
    return HttpAnswer.json({"status": "ok"})


def readyz(call: HttpCall) -> HttpAnswer:
    """Readiness: every configured model is loaded and the default one answers a prediction (and the
    process is not draining before it stops)."""
    name = call.settings["MODEL_NAME"]
    readiness = call.front_end.readiness(name)
    if not readiness.ready:
        return HttpAnswer.json({"status": "not ready", "error": readiness.error}, 503)
    return HttpAnswer.json({"status": "ready", "model": name, "version": str(readiness.model.version)})


ROUTES = RouteGroup("health", "health", JSON, (
    Route("/healthz", ("GET",), healthz, probe=True),
    Route("/readyz", ("GET",), readyz, probe=True),
))
