"""Schemathesis against a running server, from its own ``/openapi.json``: generated requests, checked answers.

For every operation of the document, Schemathesis (PyPI) generates requests that fit the document
(positive) and requests that break it (negative: wrong types, missing fields, bodies of the wrong media
type), sends them, and checks each answer: no 5xx, a documented status, a documented Content-Type, the
body valid against the documented schema, the documented headers present. ``fuzz`` returns the counts and
the failures; the suite runs it briefly (tests/webapp/http/test_api_fuzz.py), this script longer:

    python bench/openapi_fuzz.py --examples 500 --negative 200     # per operation, on a fresh app
    python bench/openapi_fuzz.py --url http://127.0.0.1:8000        # a server already running

It prints the requests sent per operation, the statuses seen and every failure (with a curl command to
repeat it); the exit code is 1 when there is a failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: Seconds a single request may take before it counts as a failure (the server's own deadline is shorter).
REQUEST_TIMEOUT = 30.0


@dataclass
class FuzzReport:
    """What a run sent and saw: requests per operation, statuses, and each failure once."""

    requests: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


def response_checks() -> list:
    """The checks on each answer: no server error, and the answer as documented."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance,
            response_headers_conformance, response_schema_conformance]


def fuzz(base_url: str, positive: int, negative: int, path_parameters: dict[str, object],
         seed: int = 0) -> FuzzReport:
    """Up to ``positive`` requests per operation that fit the document and ``negative`` that break it.

    Half the fitting requests name what the generator makes up (mostly unknown models), half name
    ``path_parameters`` (a served model), so their bodies reach the model. The breaking requests break
    the query, headers and body, on ``path_parameters``: a path broken by a "/" is another route's path.
    """
    import hypothesis
    import requests
    import schemathesis
    from schemathesis.core.failures import FailureGroup
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    checks = response_checks()
    report = FuzzReport()
    session = requests.Session()

    def sender(label: str) -> Callable[[Any], None]:
        """Send one generated case of the operation ``label``, count it, record its failures."""

        def send(case: Any) -> None:
            response = case.call(base_url=base_url, session=session, timeout=REQUEST_TIMEOUT)
            report.requests[label] += 1
            report.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=checks)
            except FailureGroup as failures:
                for failure in failures.exceptions:
                    report.failures.setdefault(f"{label}: {failure.title}", str(failures))

        return send

    for result in schema.get_all_operations():
        operation = result.ok()
        names = {parameter.name for parameter in operation.path_parameters}
        fixed = {name: value for name, value in path_parameters.items() if name in names}
        runs = [(GenerationMode.POSITIVE, positive - positive // 2 if fixed else positive, {}),
                (GenerationMode.NEGATIVE, negative, {"path_parameters": fixed})]
        if fixed:
            runs.append((GenerationMode.POSITIVE, positive // 2, {"path_parameters": fixed}))
        for mode, examples, overrides in runs:
            if examples == 0:
                continue
            strategy = operation.as_strategy(generation_mode=mode, **overrides)
            run = hypothesis.given(case=strategy)(sender(operation.label))
            run = hypothesis.settings(
                max_examples=examples, deadline=None, database=None, derandomize=False,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )(run)
            run = hypothesis.seed(seed)(run)
            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                continue  # a mode with nothing to break (a GET without parameters has no negative case)
    return report


@contextmanager
def local_server() -> Iterator[str]:
    """The app (onnxruntime engine, the repo's models) on a free loopback port."""
    from werkzeug.serving import make_server

    from webapp import create_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per generated request

    app = create_app({"MODEL_BASE_PATH": str(REPO_ROOT / "models"), "ENGINE": "onnxruntime",
                      "FILE_SYSTEM_POLL_SECONDS": 0, "MODEL_RELOAD_ON_SIGHUP": False})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        app.extensions["serving_core"].stop()


def print_report(report: FuzzReport) -> None:
    width = max((len(label) for label in report.requests), default=10)
    for label, count in sorted(report.requests.items()):
        print(f"{label:<{width}}  {count:6d}")
    print(f"requests: {report.total}")
    print("statuses: " + ", ".join(f"{status}: {count}" for status, count in sorted(report.statuses.items())))
    print(f"failures: {len(report.failures)}")
    for key, text in report.failures.items():
        print(f"\n== {key}\n{text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300,
                        help="requests per operation that fit the document (at most; default 300)")
    parser.add_argument("--negative", type=int, default=100,
                        help="requests per operation that break it (at most; default 100)")
    parser.add_argument("--model", default="emnist", help="the served model negative requests name")
    parser.add_argument("--version", type=int, default=3, help="its version negative requests name")
    parser.add_argument("--url", help="a running server's base URL (default: start the app on 127.0.0.1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path_parameters = {"name": args.model, "version": args.version}
    started = time.perf_counter()
    if args.url:
        report = fuzz(args.url.rstrip("/"), args.examples, args.negative, path_parameters, args.seed)
    else:
        with local_server() as url:
            report = fuzz(url, args.examples, args.negative, path_parameters, args.seed)
    print(f"seconds: {time.perf_counter() - started:.1f}")
    print_report(report)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
