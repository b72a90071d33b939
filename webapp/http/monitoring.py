"""Prometheus's scrape target: ``/monitoring/prometheus/metrics`` (TF Serving's path) and ``/metrics``.

The text is every process's metrics summed (``serving_core.metrics``); with ``METRICS`` off the paths
answer 404, as TF Serving's does without a monitoring config.
"""

from __future__ import annotations

from serving_core import metrics
from serving_core.errors import ModelNotFoundError
from webapp.http.calls import HttpCall
from webapp.http.refusals import JSON
from webapp.http.responses import HttpAnswer
from webapp.http.routing import Route, RouteGroup

#: TF Serving's path for the Prometheus metrics (its monitoring config's default).
TF_SERVING_PATH = "/monitoring/prometheus/metrics"


def prometheus_metrics(call: HttpCall) -> HttpAnswer:
    """Every process's metrics in Prometheus's text format."""
    if not call.settings["METRICS"]:
        raise ModelNotFoundError("metrics are off on this server (EMNIST_METRICS)")
    return HttpAnswer(metrics.exposition(), metrics.CONTENT_TYPE)


ROUTES = RouteGroup("monitoring", "metrics", JSON, (
    Route(TF_SERVING_PATH, ("GET",), prometheus_metrics),
    Route("/metrics", ("GET",), prometheus_metrics),
))
