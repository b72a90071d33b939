"""Schemathesis against the running app from its own ``/openapi.json``: at least 2,000 generated requests
(fitting the document and breaking it), no 5xx, every answer as documented. bench/openapi_fuzz.py is the
longer run."""

from __future__ import annotations

import pytest

from bench.openapi_fuzz import fuzz
from tests.support.paths import SERVED_MODEL, served_version_dir
from tests.support.servers import served

#: Requests per operation, at most: fitting the document, breaking it (an operation with only path
#: parameters has few of either once they name the served model; see ``fuzz``).
POSITIVE, NEGATIVE = 90, 15


@pytest.mark.slow
def test_generated_requests_get_documented_answers_and_no_server_error(app):
    path_parameters = {"name": SERVED_MODEL, "version": int(served_version_dir().name)}
    with served(app) as url:
        report = fuzz(url, POSITIVE, NEGATIVE, path_parameters)
    assert report.total >= 2000, report.requests
    assert report.server_errors == 0, report.statuses
    assert not report.failures, "\n".join(report.failures.values())
    assert 200 in report.statuses and 400 in report.statuses
