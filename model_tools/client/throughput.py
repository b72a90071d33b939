"""``throughput``: the blog's ``eval_throughput`` as a closed-loop load test of several deployments.

For each endpoint, batch size and concurrency, C worker threads each keep one persistent connection
and send the same batch of real images back to back for a fixed duration (after a short warm-up).
The report gives requests/s, images/s, p50/p90/p99 latency and the error count per cell, as JSON,
Markdown and the blog's figures (throughput bars per deployment and batch size, latency quantiles).

A Python client shares the two cores with the server; for the highest loads ``bench/`` drives wrk.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model_tools.client.eval_serving import add_endpoint_arguments, choose_images
from model_tools.client.protocols import EndpointError
from model_tools.client.serving_client import (
    ACCEPT_TYPES,
    ANSWERS,
    PAYLOADS,
    Endpoint,
    encode_request,
    error_message,
    latency_summary,
    open_connection,
    parse_endpoints,
    predicted_classes,
)
from model_tools.common.atomic_io import write_text_atomic

log = logging.getLogger(__name__)

#: Pause of a worker after a connection failure, so a dead endpoint is not hammered in a busy loop.
FAILURE_PAUSE_S = 0.05


@dataclass
class WorkerResult:
    """One worker's latencies and errors, merged into the cell's figures after the run."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, message: str) -> None:
        self.errors[message] = self.errors.get(message, 0) + 1


def _worker(endpoint: Endpoint, body: bytes, content_type: str, batch_size: int, deadline: float,
            record: bool, result: WorkerResult, timeout: float, check_answers: bool = True,
            accept: str | None = None, headers: dict[str, str] | None = None) -> None:
    """Closed loop: send, wait for the answer, send again, until ``deadline``."""
    connection = open_connection(endpoint, timeout=timeout)
    checked = not check_answers
    try:
        while time.perf_counter() < deadline:
            try:
                status, answer, seconds = connection.post(body, content_type, accept, headers)
            except EndpointError as exc:
                if record:
                    result.error(str(exc))
                time.sleep(FAILURE_PAUSE_S)
                continue
            if status != 200:
                if record:
                    result.error(error_message(status, answer))
                continue
            if not checked:  # the first answer of each worker must hold batch_size predictions
                try:
                    predicted_classes(answer, endpoint.format, batch_size)
                except EndpointError as exc:
                    if record:
                        result.error(str(exc))
                    continue
                checked = True
            if record:
                result.latencies_ms.append(seconds * 1000.0)
    finally:
        connection.close()


def measure(endpoint: Endpoint, body: bytes, content_type: str, batch_size: int, concurrency: int,
            duration: float, warmup: float = 1.0, timeout: float = 30.0, check_answers: bool = True,
            accept: str | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """One cell: ``concurrency`` closed-loop workers for ``duration`` seconds -> figures.

    ``check_answers``: the first answer of each worker must hold ``batch_size`` predictions (off for a
    no-op server that answers a fixed body). ``accept``: the Accept header (None: none is sent);
    ``headers``: more request headers (V2's Inference-Header-Content-Length).
    """
    if warmup > 0:
        _run_workers(endpoint, body, content_type, batch_size, concurrency, warmup, False, timeout,
                     check_answers, accept, headers)
    results, elapsed = _run_workers(endpoint, body, content_type, batch_size, concurrency, duration, True,
                                    timeout, check_answers, accept, headers)
    latencies = np.array([v for r in results for v in r.latencies_ms], dtype=np.float64)
    errors: dict[str, int] = {}
    for r in results:
        for message, count in r.errors.items():
            errors[message] = errors.get(message, 0) + count
    ok = int(latencies.size)
    return {
        "endpoint": endpoint.name,
        "url": endpoint.url,
        "batch_size": batch_size,
        "concurrency": concurrency,
        "duration_s": elapsed,
        "requests": ok,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "requests_per_s": ok / elapsed,
        "images_per_s": ok * batch_size / elapsed,
        "latency_ms": latency_summary(latencies),
        "latencies_ms": latencies.round(4).tolist(),
    }


def _run_workers(endpoint: Endpoint, body: bytes, content_type: str, batch_size: int, concurrency: int,
                 duration: float, record: bool, timeout: float, check_answers: bool = True,
                 accept: str | None = None, headers: dict[str, str] | None = None
                 ) -> tuple[list[WorkerResult], float]:
    results = [WorkerResult() for _ in range(concurrency)]
    started = time.perf_counter()
    deadline = started + duration
    threads = [
        threading.Thread(target=_worker, args=(endpoint, body, content_type, batch_size, deadline, record,
                                               result, timeout, check_answers, accept, headers),
                         daemon=True)
        for result in results
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def parse_int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"{what} must be positive integers, got {text!r}")
    return values


def markdown_table(cells: list[dict[str, Any]], payload: str) -> str:
    lines = [
        "| endpoint | batch | concurrency | payload | requests/s | images/s | p50 ms | p90 ms | p99 ms "
        "| errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        lat = c["latency_ms"]
        lines.append(
            f"| {c['endpoint']} | {c['batch_size']} | {c['concurrency']} | {payload} | "
            f"{c['requests_per_s']:,.0f} | {c['images_per_s']:,.0f} | {lat['p50']:.2f} | {lat['p90']:.2f} | "
            f"{lat['p99']:.2f} | {c['errors']} |"
        )
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, cells: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Path]:
    """throughput.json, throughput.md, throughput_bars.png and throughput_latency_quantiles.png."""
    from model_tools.client.serving_plots import latency_quantile_plot, throughput_bar_plot

    out_dir.mkdir(parents=True, exist_ok=True)
    payload = settings["payload"]
    concurrencies = sorted({c["concurrency"] for c in cells})
    bar_rows = [
        {**c, "endpoint": c["endpoint"] if len(concurrencies) == 1
         else f"{c['endpoint']} c={c['concurrency']}"}
        for c in cells
    ]
    answer = settings.get("answer", "json")
    answer_note = "" if answer == "json" else f", {answer} answer"
    title = f"{payload} payload{answer_note}, {settings['duration_s']:g} s per cell"
    paths = {
        "bars": throughput_bar_plot(bar_rows, out_dir / "throughput_bars.png", f"Throughput: {title}"),
        "quantiles": latency_quantile_plot(
            {f"{c['endpoint']} b={c['batch_size']} c={c['concurrency']}": c["latencies_ms"] for c in cells},
            out_dir / "throughput_latency_quantiles.png", f"Latency under load: {title}"),
    }
    json_path = out_dir / "throughput.json"
    write_text_atomic(json_path, json.dumps({"settings": settings, "cells": cells}, indent=1))
    md_path = out_dir / "throughput.md"
    write_text_atomic(md_path, f"# Throughput: {title}\n\n" + markdown_table(cells, payload)
                  + "\n![throughput](throughput_bars.png)\n![latency](throughput_latency_quantiles.png)\n")
    paths.update(json=json_path, markdown=md_path)
    return paths


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    endpoints = parse_endpoints(args.endpoint, args.format)
    batch_sizes = parse_int_list(args.batch_sizes, "--batch-sizes")
    concurrencies = parse_int_list(str(args.concurrency), "--concurrency")
    if args.duration <= 0:
        raise ValueError(f"--duration must be positive, got {args.duration}")
    _, images, _ = choose_images(args.split, max(batch_sizes), args.seed, args.data_dir)
    requests = {(e.name, b): encode_request(e, images[:b], args.payload)
                for e in endpoints for b in batch_sizes}
    plan = [(e, b, c) for e in endpoints for b in batch_sizes for c in concurrencies]
    cells = []
    for endpoint, batch_size, concurrency in tqdm(plan, desc="throughput", unit="cell",
                                                  disable=args.no_progress):
        request = requests[endpoint.name, batch_size]
        # Accept asks this app's :predict routes for a .npy answer; the other protocols have their own.
        accept = ACCEPT_TYPES[args.answer] if endpoint.format in ("tfserving", "predict") else None
        cells.append(measure(endpoint, request.body, request.content_type, batch_size, concurrency,
                             args.duration, args.warmup, args.timeout, accept=accept,
                             headers=request.headers))
    settings = {"payload": args.payload, "answer": args.answer, "duration_s": args.duration,
                "warmup_s": args.warmup, "batch_sizes": batch_sizes, "concurrency": concurrencies,
                "split": args.split, "seed": args.seed}
    paths = write_report(Path(args.out), cells, settings)
    print(markdown_table(cells, args.payload), end="")
    for cell in cells:
        for message, count in cell["error_kinds"].items():
            where = f"{cell['endpoint']} batch {cell['batch_size']} c={cell['concurrency']}"
            print(f"{where}: {count} x {message}")
    print(f"report: {paths['markdown']} {paths['json']} {paths['bars']} {paths['quantiles']}")
    return 1 if any(c["requests"] == 0 for c in cells) else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "throughput",
        help="requests/s, images/s and latency percentiles of deployments under a closed-loop load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_endpoint_arguments(parser)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per cell (default 10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unrecorded seconds before each cell")
    parser.add_argument("--batch-sizes", default="1,128", help="images per request, comma-separated")
    parser.add_argument("--concurrency", default="1", help="closed-loop workers (comma list allowed)")
    parser.add_argument("--payload", choices=PAYLOADS, default="json",
                        help="json (pixels/255), b64 (TF Serving {\"b64\"} of raw uint8 pixels) or npy "
                             "(application/octet-stream .npy body); for GraphPipe and V2 endpoints: json "
                             "= pixels/255 (float64 GraphPipe tensors, V2 JSON tensors), npy = binary "
                             "float32 tensors, b64 = binary uint8 pixels")
    parser.add_argument("--answer", choices=ANSWERS, default="json",
                        help="json (TF Serving's answer) or npy (ask for a .npy of the scores with "
                             "Accept: application/x-npy; this app's :predict routes give it)")
    parser.set_defaults(func=run)
