"""``eval-serving``: the blog's ``eval_serving_performance`` for any set of deployments.

N real images, chosen with a seed from a shipped split, are sent one per request to every endpoint
(this app's ``/v1/models/<name>:predict`` or ``/predict``, any TF Serving REST URL, TF Serving's gRPC
API as ``grpc://host:port/<name>``, GraphPipe's ``/graphpipe/<name>`` or a GraphPipe port, the Open
Inference Protocol's ``/v2/models/<name>`` over HTTP or ``grpc://``). Each request's
latency and answer is recorded; the report gives accuracy against the labels and the latency
distribution per endpoint, as JSON (with every record), Markdown, and the blog's two latency figures.
An unreachable endpoint or an error answer is counted and reported, never a crash.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model_tools.client.protocols import EndpointError
from model_tools.client.serving_client import (
    FORMATS,
    Endpoint,
    encode_request,
    error_message,
    latency_summary,
    open_connection,
    parse_endpoints,
    predicted_classes,
)
from model_tools.common.atomic_io import write_text_atomic
from model_tools.common.paths import REPORTS_DIR

log = logging.getLogger(__name__)

#: After this many connection failures in a row an endpoint is given up (its remaining images are
#: counted as errors without being sent), so a dead URL does not cost N timeouts.
MAX_CONSECUTIVE_CONNECTION_ERRORS = 5


@dataclass
class RequestRecord:
    """One image sent to one endpoint."""

    endpoint: str
    index: int  # row of the image in the split
    label: int
    predicted: int | None
    latency_ms: float | None
    status: int | None
    error: str | None


def choose_images(split: str, count: int, seed: int, data_dir: Path | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices, uint8 images [N,28,28], labels) of ``count`` images drawn without replacement."""
    from model_tools.data.datasets import load_split

    images, labels = load_split(split, data_dir)
    if count < 1:
        raise ValueError(f"-n must be at least 1, got {count}")
    if count > len(images):
        raise ValueError(f"-n {count} is more than the {len(images)} images of split {split!r}")
    indices = np.sort(np.random.default_rng(seed).choice(len(images), size=count, replace=False))
    return indices, images[indices], labels[indices]


def evaluate_endpoint(endpoint: Endpoint, indices: np.ndarray, images: np.ndarray, labels: np.ndarray,
                      timeout: float = 30.0, progress: bool = True) -> list[RequestRecord]:
    """Send each image alone to ``endpoint``; one record per image, errors included."""
    from tqdm import tqdm

    connection = open_connection(endpoint, timeout=timeout)
    records: list[RequestRecord] = []
    consecutive_failures = 0
    given_up: str | None = None
    rows = tqdm(range(len(images)), desc=endpoint.name, unit="req", disable=not progress, leave=False)
    try:
        for row in rows:
            index, label = int(indices[row]), int(labels[row])
            if given_up is not None:
                records.append(RequestRecord(endpoint.name, index, label, None, None, None, given_up))
                continue
            request = encode_request(endpoint, images[row:row + 1], "json")
            try:
                status, answer, seconds = connection.post(request.body, request.content_type,
                                                          headers=request.headers)
            except EndpointError as exc:
                consecutive_failures += 1
                records.append(RequestRecord(endpoint.name, index, label, None, None, None, str(exc)))
                if consecutive_failures >= MAX_CONSECUTIVE_CONNECTION_ERRORS:
                    given_up = f"not sent: {consecutive_failures} connection failures in a row ({exc})"
                    log.error("%s: giving up after %d connection failures: %s", endpoint.name,
                              consecutive_failures, exc)
                continue
            consecutive_failures = 0
            latency = seconds * 1000.0
            if status != 200:
                records.append(RequestRecord(endpoint.name, index, label, None, latency, status,
                                             error_message(status, answer)))
                continue
            try:
                predicted = int(predicted_classes(answer, endpoint.format, 1)[0])
            except EndpointError as exc:
                records.append(RequestRecord(endpoint.name, index, label, None, latency, status, str(exc)))
                continue
            records.append(RequestRecord(endpoint.name, index, label, predicted, latency, status, None))
    finally:
        connection.close()
    return records


def summarize(endpoint: Endpoint, records: list[RequestRecord]) -> dict[str, Any]:
    """Accuracy over answered requests (and over all), error count and kinds, latency statistics."""
    answered = [r for r in records if r.predicted is not None]
    correct = sum(r.predicted == r.label for r in answered)
    latencies = np.array([r.latency_ms for r in answered], dtype=np.float64)
    errors: dict[str, int] = {}
    for record in records:
        if record.error is not None:
            kind = record.error[:200]
            errors[kind] = errors.get(kind, 0) + 1
    return {
        "endpoint": endpoint.name,
        "url": endpoint.url,
        "format": endpoint.format,
        "requests": len(records),
        "answered": len(answered),
        "errors": len(records) - len(answered),
        "error_kinds": errors,
        "accuracy": correct / len(answered) if answered else float("nan"),
        "accuracy_all": correct / len(records) if records else float("nan"),
        "latency_ms": latency_summary(latencies),
    }


def markdown_table(summaries: list[dict[str, Any]]) -> str:
    lines = [
        "| endpoint | requests | errors | accuracy | mean ms | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lat = s["latency_ms"]
        accuracy = "-" if s["answered"] == 0 else f"{100 * s['accuracy']:.2f} %"
        lines.append(
            f"| {s['endpoint']} | {s['requests']} | {s['errors']} | {accuracy} | {lat['mean']:.2f} | "
            f"{lat['p50']:.2f} | {lat['p90']:.2f} | {lat['p99']:.2f} | {lat['max']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, summaries: list[dict[str, Any]], records: list[RequestRecord],
                 settings: dict[str, Any]) -> dict[str, Path]:
    """eval_serving.json (+ every record), eval_serving.md and the two latency PNGs."""
    from model_tools.client.serving_plots import latency_box_plot, latency_quantile_plot

    out_dir.mkdir(parents=True, exist_ok=True)
    latencies = {s["endpoint"]: [r.latency_ms for r in records
                                 if r.endpoint == s["endpoint"] and r.predicted is not None]
                 for s in summaries}
    title = f"{settings['n']} {settings['split']} images, one per request (seed {settings['seed']})"
    paths = {
        "box": latency_box_plot(latencies, out_dir / "eval_latency_box.png", f"Latency: {title}"),
        "quantiles": latency_quantile_plot(latencies, out_dir / "eval_latency_quantiles.png",
                                           f"Latency quantiles: {title}"),
    }
    document = {"settings": settings, "summaries": summaries, "records": [asdict(r) for r in records]}
    json_path = out_dir / "eval_serving.json"
    write_text_atomic(json_path, json.dumps(document, indent=1, allow_nan=True))
    md_path = out_dir / "eval_serving.md"
    write_text_atomic(md_path, f"# Serving evaluation: {title}\n\n" + markdown_table(summaries)
                  + "\n![latency box plot](eval_latency_box.png)\n"
                  + "![latency quantiles](eval_latency_quantiles.png)\n")
    paths.update(json=json_path, markdown=md_path)
    return paths


def run(args: argparse.Namespace) -> int:
    endpoints = parse_endpoints(args.endpoint, args.format)
    indices, images, labels = choose_images(args.split, args.n, args.seed, args.data_dir)
    all_records: list[RequestRecord] = []
    summaries = []
    for endpoint in endpoints:
        records = evaluate_endpoint(endpoint, indices, images, labels, args.timeout, not args.no_progress)
        all_records.extend(records)
        summaries.append(summarize(endpoint, records))
    settings = {"n": args.n, "seed": args.seed, "split": args.split, "timeout_s": args.timeout}
    paths = write_report(Path(args.out), summaries, all_records, settings)
    print(markdown_table(summaries), end="")
    for summary in summaries:
        for kind, count in summary["error_kinds"].items():
            print(f"{summary['endpoint']}: {count} x {kind}")
    print(f"report: {paths['markdown']} {paths['json']} {paths['box']} {paths['quantiles']}")
    # Exit 1 when some endpoint answered nothing at all: a script notices a dead deployment.
    return 1 if any(s["answered"] == 0 for s in summaries) else 0


def add_endpoint_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", action="append", required=True, metavar="NAME=URL",
                        help="a deployment to measure (repeat to compare), e.g. "
                             "app=http://127.0.0.1:8000/v1/models/emnist:predict")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="protocol: tfserving (predictions), predict (this app's /predict), graphpipe "
                             "or v2 (the Open Inference Protocol); default: guessed from each URL "
                             "(/graphpipe/..., /v2/models/..., grpc://host:port/v2/models/<model>; "
                             "grpc://host:port/<model> is TF Serving's gRPC API)")
    parser.add_argument("--split", default="validation", choices=("validation", "test"),
                        help="shipped split the images come from (default validation)")
    parser.add_argument("--data-dir", type=Path, default=None, help="data folder (default: the repo's data/)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image choice (default 0)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    parser.add_argument("--out", default=str(REPORTS_DIR / "serving"),
                        help="report folder (default: the project's reports/serving)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-serving",
        help="accuracy and per-request latency of deployments (one real image per request)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_endpoint_arguments(parser)
    parser.add_argument("-n", type=int, default=500, help="images to send to each endpoint (default 500)")
    parser.set_defaults(func=run)
