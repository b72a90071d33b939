"""Serving benchmark: the app under gunicorn against its HTTP floor and its compute floor, with wrk.

What one run measures, all on 127.0.0.1 with the repository's ``gunicorn.conf.py``:

* servers: the no-op Flask app (``bench/noop_app.py``: reads the body, answers a fixed JSON; the HTTP
  floor), and the real app (``wsgi:app``) with each engine, with and without dynamic batching;
* cells per server, each a bounded wrk load: 1 image per request at concurrency 1 and 8, batch 128 at
  concurrency 1 and 8 as JSON (the blog's pixels/255), and batch 128 at concurrency 8 as TF Serving's
  ``{"b64": ...}`` of raw uint8 pixels and as an ``application/octet-stream`` ``.npy`` body, answered in
  JSON, and the ``.npy`` body once more answered as ``.npy`` (``Accept: application/x-npy``);
* RSS of each gunicorn worker after its load, and cold start (process spawn to first answer, and in a
  fresh interpreter: import to first answer, ``bench/cold_start.py``);
* the compute floor: the engine in-process without HTTP (``bench/compute_floor.py``).

The machine is shared and noisy: every server is measured in every run, ratios are taken inside one run,
and the report gives medians over runs (``--runs``, at least 3 for figures worth quoting). Output:
``reports/bench/bench.json`` (every run), ``bench.md`` (the tables) and the table on stdout.
``--quick`` runs one short pass over the no-op floor and the onnxruntime app (a few seconds).

Needs wrk (Debian: ``apt-get install wrk``); without it the Python client of ``model_tools throughput``
stands in and the figures are marked as such (not comparable with wrk's).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from model_tools.client.serving_client import encode_payload  # noqa: E402

log = logging.getLogger("bench")

LUA_SCRIPT = REPO / "bench" / "post_body.lua"
PYTHON = sys.executable
#: Best figures of the established servers measured on this machine (issue 6's table, wrk, c=8).
BEST_PEER_1_IMAGE_C8 = 1220.0  # TorchServe 0.12, req/s
BEST_PEER_128_C8 = 7650.0  # MLServer 1.7, images/s
#: The issue's targets.
TARGET_FASTEST_VS_FLOOR = 0.8
TARGET_TF_VS_FLOOR = 0.6
TARGET_JSON_VS_PEERS = 2.0
TARGET_BINARY_VS_COMPUTE = 0.6
TARGET_ONNX_RSS_MB = 150.0


@dataclass(frozen=True)
class Server:
    name: str
    wsgi: str
    engine: str | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    key: str
    body: str
    concurrency: int
    batch_size: int
    accept: str | None = None  # the Accept header (None: none, the server's JSON answer)


SERVERS = {
    "noop": Server("no-op floor (HTTP)", "bench.noop_app:app"),
    "onnxruntime": Server(
        "app onnxruntime (default)", "wsgi:app", "onnxruntime", {"EMNIST_ENABLE_BATCHING": "0"}
    ),
    "onnxruntime+batching": Server(
        "app onnxruntime + batching", "wsgi:app", "onnxruntime", {"EMNIST_ENABLE_BATCHING": "1"}
    ),
    "tensorflow": Server(
        "app tensorflow (default)", "wsgi:app", "tensorflow", {"EMNIST_ENABLE_BATCHING": "0"}
    ),
    "tensorflow+batching": Server(
        "app tensorflow + batching", "wsgi:app", "tensorflow", {"EMNIST_ENABLE_BATCHING": "1"}
    ),
}
CELLS = {
    "b1_json_c1": Cell("b1_json_c1", "b1_json", 1, 1),
    "b1_json_c8": Cell("b1_json_c8", "b1_json", 8, 1),
    "b128_json_c1": Cell("b128_json_c1", "b128_json", 1, 128),
    "b128_json_c8": Cell("b128_json_c8", "b128_json", 8, 128),
    "b128_b64_c8": Cell("b128_b64_c8", "b128_b64", 8, 128),
    "b128_npy_c8": Cell("b128_npy_c8", "b128_npy", 8, 128),
    "b128_npy_npy_c8": Cell("b128_npy_npy_c8", "b128_npy", 8, 128, "application/x-npy"),
}
QUICK_SERVERS = ("noop", "onnxruntime")
QUICK_CELLS = ("b1_json_c8", "b128_json_c8", "b128_npy_c8", "b128_npy_npy_c8")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_bodies(folder: Path, seed: int) -> dict[str, tuple[Path, str]]:
    """Request bodies from real validation images: name -> (file, content type)."""
    import numpy as np

    from model_tools.data.datasets import load_split

    images, _ = load_split("validation")
    chosen = images[np.random.default_rng(seed).choice(len(images), 128, replace=False)]
    bodies = {}
    for name, count, payload in (
        ("b1_json", 1, "json"),
        ("b128_json", 128, "json"),
        ("b128_b64", 128, "b64"),
        ("b128_npy", 128, "npy"),
    ):
        body, content_type = encode_payload(chosen[:count], payload)
        path = folder / f"{name}.body"
        path.write_bytes(body)
        bodies[name] = (path, content_type)
    return bodies


class RunningServer:
    """gunicorn with the repository's config, started on a free loopback port; stopped on exit."""

    def __init__(
        self,
        server: Server,
        model_name: str,
        log_path: Path,
        extra_env: dict[str, str],
        gunicorn_args: list[str] | None = None,
    ) -> None:
        self.server = server
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/models/{model_name}:predict"
        env = {
            **os.environ,
            **extra_env,
            **server.env,
            "EMNIST_MODEL_NAME": model_name,
            "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0",
        }
        if server.engine:
            env["EMNIST_ENGINE"] = server.engine
        self.log_file = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "--config",
                str(REPO / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--chdir",
                str(REPO),
                *(gunicorn_args or []),
                server.wsgi,
            ],
            cwd=REPO,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_first_answer(self, body: bytes, content_type: str, timeout: float) -> float:
        """Seconds from spawn to the first 200 answer of a predict request (the cold start)."""
        import http.client

        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.server.name}: gunicorn exited with {self.process.returncode}: {self.log_tail()}"
                )
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request(
                    "POST",
                    self.url.split(str(self.port), 1)[1],
                    body=body,
                    headers={"Content-Type": content_type},
                )
                status = connection.getresponse().status
                connection.close()
                if status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.server.name}: no answer within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, size: int = 1500) -> str:
        """The end of the server's log (for error messages)."""
        self.log_file.flush()
        data = Path(self.log_file.name).read_bytes()[-size:]
        return data.decode("utf-8", "replace")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by the gunicorn master and its workers."""
        import psutil

        try:
            master = psutil.Process(self.process.pid)
            processes = [master, *master.children()]
            return sum(sum(p.cpu_times()[:2]) for p in processes)
        except psutil.Error:
            return float("nan")

    def worker_rss_mb(self) -> list[float]:
        import psutil

        try:
            children = psutil.Process(self.process.pid).children()
            return sorted(child.memory_info().rss / 2**20 for child in children)
        except psutil.Error:
            return []

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log_file.close()


def run_wrk(
    url: str, body: Path, content_type: str, concurrency: int, duration: float, accept: str | None = None
) -> dict[str, Any]:
    """One bounded wrk load -> requests/s, latency percentiles (ms), errors."""
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(body),
        content_type,
        *([accept] if accept else []),
    ]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    line = next((x for x in output.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary: {output.stdout[-300:]} {output.stderr[-300:]}")
    raw = json.loads(line[len("WRK_JSON ") :])
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw["errors"].values())
    ok = raw["requests"] - raw["errors"]["status"]
    return {
        "client": "wrk",
        "requests_per_s": ok / seconds,
        "latency_ms": {k: raw["latency_us"][k] / 1000.0 for k in ("p50", "p90", "p99")},
        "errors": errors,
        "requests": raw["requests"],
    }


def run_python_client(
    url: str, body: Path, content_type: str, concurrency: int, batch_size: int, duration: float,
    accept: str | None = None,
) -> dict[str, Any]:
    """The fallback load client (``model_tools throughput``'s closed loop) when wrk is missing."""
    from model_tools.client.serving_client import parse_endpoint
    from model_tools.client.throughput import measure

    cell = measure(
        parse_endpoint(f"server={url}"),
        body.read_bytes(),
        content_type,
        batch_size,
        concurrency,
        duration,
        warmup=0,
        check_answers=False,  # as wrk: any 200 counts (the no-op floor answers a fixed body)
        accept=accept,
    )
    return {
        "client": "python",
        "requests_per_s": cell["requests_per_s"],
        "latency_ms": {k: cell["latency_ms"][k] for k in ("p50", "p90", "p99")},
        "errors": cell["errors"],
        "requests": cell["requests"],
    }


def run_script(script: str, engine: str, model_name: str, extra: list[str], timeout: float) -> dict[str, Any]:
    """bench/cold_start.py or bench/compute_floor.py in a fresh interpreter -> its JSON line."""
    command = [PYTHON, str(REPO / "bench" / script), "--engine", engine, "--model-name", model_name, *extra]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{script} --engine {engine} failed ({result.returncode}): {result.stderr[-400:]}")
    return json.loads(lines[-1])


def measure_cell(
    server: RunningServer, cell: Cell, bodies: dict[str, tuple[Path, str]], duration: float, use_wrk: bool
) -> dict[str, Any]:
    """One load on one server; also the server's CPU time per request, which outside load barely moves."""
    path, content_type = bodies[cell.body]
    cpu_before = server.cpu_seconds()
    if use_wrk:
        figures = run_wrk(server.url, path, content_type, cell.concurrency, duration, cell.accept)
    else:
        figures = run_python_client(
            server.url, path, content_type, cell.concurrency, cell.batch_size, duration, cell.accept
        )
    cpu = server.cpu_seconds() - cpu_before
    figures["images_per_s"] = figures["requests_per_s"] * cell.batch_size
    figures["server_cpu_us_per_request"] = cpu / max(1, figures["requests"]) * 1e6
    return figures


def bench_servers(
    keys: list[str],
    model_name: str,
    cells: list[Cell],
    bodies: dict[str, tuple[Path, str]],
    settings: dict[str, Any],
    log_dir: Path,
    run_index: int,
) -> list[dict[str, Any]]:
    """Start every server, then measure cell by cell, every server back to back within a cell.

    The machine is shared: interleaving puts each server's figure for a cell within seconds of the
    others', so a burst of outside load hits all of them rather than one; the server order rotates
    from run to run.
    """
    duration, warmup, use_wrk = settings["duration"], settings["warmup"], settings["use_wrk"]
    results = {key: {"server": key, "name": SERVERS[key].name, "cells": {}} for key in keys}
    running: dict[str, RunningServer] = {}
    probe_path, probe_type = bodies["b1_json"]
    try:
        for key in keys:  # one at a time, so each cold start is measured on a quiet server set
            server = RunningServer(
                SERVERS[key],
                model_name,
                log_dir / f"{key.replace('+', '_')}_run{run_index}.log",
                settings["env"],
                settings["gunicorn_args"],
            )
            try:
                results[key]["cold_start_s"] = server.wait_first_answer(
                    probe_path.read_bytes(), probe_type, 180
                )
                if warmup > 0 and use_wrk:  # every worker runs its lazily-initialised code once
                    run_wrk(server.url, probe_path, probe_type, 8, warmup)
                running[key] = server
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                log.error("%s: %s", SERVERS[key].name, exc)
                results[key]["error"] = str(exc)
                server.stop()
        order = list(running)
        shift = run_index % max(1, len(order))
        order = order[shift:] + order[:shift]
        for cell in cells:
            for key in order:
                try:
                    figures = measure_cell(running[key], cell, bodies, duration, use_wrk)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                    log.error("%s %s: %s", SERVERS[key].name, cell.key, exc)
                    results[key].setdefault("cell_errors", {})[cell.key] = str(exc)
                    continue
                results[key]["cells"][cell.key] = figures
                log.info(
                    "run %d %-28s %-13s %9.0f req/s %9.0f img/s p50 %.2f ms p99 %.2f ms errors %d"
                    " server CPU %.0f us/req",
                    run_index,
                    SERVERS[key].name,
                    cell.key,
                    figures["requests_per_s"],
                    figures["images_per_s"],
                    figures["latency_ms"]["p50"],
                    figures["latency_ms"]["p99"],
                    figures["errors"],
                    figures["server_cpu_us_per_request"],
                )
        for key, server in running.items():
            results[key]["worker_rss_mb"] = server.worker_rss_mb()
    finally:
        for server in running.values():
            server.stop()
    return [results[key] for key in keys]


def ratios(run: dict[str, Any]) -> dict[str, float]:
    """The issue's target ratios inside one run (missing servers give no ratio)."""
    servers = {s["server"]: s for s in run["servers"] if "error" not in s}
    out: dict[str, float] = {}

    def cell(key: str, name: str, value: str = "requests_per_s") -> float | None:
        figures = servers.get(key, {}).get("cells", {}).get(name)
        return None if figures is None else figures[value]

    floor = cell("noop", "b1_json_c8")
    floor_cpu = cell("noop", "b1_json_c8", "server_cpu_us_per_request")
    for key in ("onnxruntime", "onnxruntime+batching", "tensorflow", "tensorflow+batching"):
        value = cell(key, "b1_json_c8")
        if floor and value is not None:
            out[f"{key} 1 image c=8 / no-op floor"] = value / floor
        value_cpu = cell(key, "b1_json_c8", "server_cpu_us_per_request")
        if floor_cpu and value_cpu:
            out[f"{key} 1 image c=8: no-op floor CPU / app CPU per request"] = floor_cpu / value_cpu
        json128 = cell(key, "b128_json_c8", "images_per_s")
        if json128 is not None:
            out[f"{key} batch 128 JSON c=8 / best peer ({BEST_PEER_128_C8:,.0f} img/s)"] = (
                json128 / BEST_PEER_128_C8
            )
        engine = key.split("+")[0]
        compute = run.get("compute_floor", {}).get(engine, {})
        best_compute = max(
            (v for k, v in compute.items() if k.startswith("b128_") and k.endswith("_images_per_s")),
            default=None,
        )
        # CPU per batch-128 call in-process (the cheaper of 1 or 2 threads): the model's own cost.
        compute_cpu = min(
            (v for k, v in compute.items() if k.startswith("b128_") and k.endswith("_cpu_us_per_call")),
            default=None,
        )
        for payload, title in (("b64", "b64"), ("npy", "npy"), ("npy_npy", "npy, npy answer")):
            binary = cell(key, f"b128_{payload}_c8", "images_per_s")
            if binary is not None and best_compute:
                out[f"{key} batch 128 {title} c=8 / in-process engine"] = binary / best_compute
            binary_cpu = cell(key, f"b128_{payload}_c8", "server_cpu_us_per_request")
            if binary_cpu and compute_cpu:
                out[f"{key} batch 128 {title} c=8: in-process CPU per batch / app CPU per request"] = (
                    compute_cpu / binary_cpu
                )
    for engine in ("onnxruntime", "tensorflow"):
        plain, batched = cell(engine, "b1_json_c8"), cell(f"{engine}+batching", "b1_json_c8")
        if plain and batched is not None:
            out[f"{engine} batching on / off, 1 image c=8"] = batched / plain
    return out


def median_or_none(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs: list[dict[str, Any]], server_keys: list[str], cells: list[Cell]) -> dict[str, Any]:
    """Medians over runs of every figure and ratio."""
    summary: dict[str, Any] = {"servers": {}, "ratios": {}, "compute_floor": {}, "cold_start": {}}
    for key in server_keys:
        entries = [s for run in runs for s in run["servers"] if s["server"] == key and "error" not in s]
        row: dict[str, Any] = {"name": SERVERS[key].name, "runs": len(entries)}
        for cell in cells:
            figures = [e["cells"][cell.key] for e in entries if cell.key in e["cells"]]
            if not figures:
                continue
            row[cell.key] = {
                "requests_per_s": median_or_none([f["requests_per_s"] for f in figures]),
                "images_per_s": median_or_none([f["images_per_s"] for f in figures]),
                "p50_ms": median_or_none([f["latency_ms"]["p50"] for f in figures]),
                "p99_ms": median_or_none([f["latency_ms"]["p99"] for f in figures]),
                "errors": sum(f["errors"] for f in figures),
                "client": figures[0]["client"],
                "cpu_us": median_or_none([f.get("server_cpu_us_per_request") for f in figures]),
            }
        row["worker_rss_mb"] = median_or_none(
            [max(e["worker_rss_mb"]) for e in entries if e.get("worker_rss_mb")]
        )
        row["cold_start_s"] = median_or_none([e.get("cold_start_s") for e in entries])
        errors = [s["error"] for run in runs for s in run["servers"] if s["server"] == key and "error" in s]
        if errors:
            row["failures"] = errors
        summary["servers"][key] = row
    names = sorted({name for run in runs for name in run["ratios"]})
    for name in names:
        summary["ratios"][name] = median_or_none([run["ratios"].get(name) for run in runs])
    for section in ("compute_floor", "cold_start"):
        engines = sorted({engine for run in runs for engine in run.get(section, {})})
        for engine in engines:
            values = [run[section][engine] for run in runs if engine in run.get(section, {})]
            numeric = {k for v in values for k, x in v.items() if isinstance(x, int | float)}
            summary[section][engine] = {
                k: median_or_none([v.get(k) for v in values]) for k in sorted(numeric)
            }
    return summary


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def markdown(summary: dict[str, Any], cells: list[Cell], settings: dict[str, Any]) -> str:
    """The README's tables: figures per server, latency, floors, cold start and the target ratios."""
    cell_titles = {
        "b1_json_c1": "1 image c=1 req/s",
        "b1_json_c8": "1 image c=8 req/s",
        "b128_json_c1": "128 JSON c=1 img/s",
        "b128_json_c8": "128 JSON c=8 img/s",
        "b128_b64_c8": "128 b64 c=8 img/s",
        "b128_npy_c8": "128 npy c=8 img/s",
        "b128_npy_npy_c8": "128 npy->npy c=8 img/s",
    }
    keys = [c.key for c in cells]
    lines = [
        f"Medians of {settings['runs']} run(s), {settings['duration_s']:g} s per cell, load client "
        f"{settings['client']}, model `{settings['model_name']}`, gunicorn.conf.py as shipped, "
        f"{settings['cpus']} CPUs shared by client and server.",
        "",
        "| server | "
        + " | ".join(cell_titles[k] for k in keys)
        + " | RSS/worker MB | spawn to 1st answer s |",
        "|---|" + "---|" * (len(keys) + 2),
    ]
    for row in summary["servers"].values():
        values = []
        for key in keys:
            figures = row.get(key)
            field_name = "requests_per_s" if key.startswith("b1_") else "images_per_s"
            values.append(_fmt(figures[field_name]) if figures else "-")
        failed = " (failed: see bench.json)" if row.get("failures") and not row["runs"] else ""
        lines.append(
            f"| {row['name']}{failed} | "
            + " | ".join(values)
            + f" | {_fmt(row.get('worker_rss_mb'))} | {_fmt(row.get('cold_start_s'), 2)} |"
        )
    for engine, figures in summary["compute_floor"].items():
        values = []
        for key in keys:
            size = 1 if key.startswith("b1_") else 128
            best = max((figures.get(f"b{size}_t{t}_images_per_s") or 0) for t in (1, 2))
            values.append(_fmt(best) if best else "-")
        lines.append(
            f"| in-process {engine} (compute floor, best of 1-2 threads) | "
            + " | ".join(values)
            + " | - | - |"
        )
    per_cell_tables = (
        ("Latency (ms, p50 / p99):", lambda f: f"{f['p50_ms']:.2f} / {f['p99_ms']:.2f}"),
        (
            "Server CPU time per request (us, gunicorn master + workers; barely moved by outside load):",
            lambda f: _fmt(f.get("cpu_us")),
        ),
    )
    for title, show in per_cell_tables:
        lines += [
            "",
            title,
            "",
            "| server | " + " | ".join(cell_titles[k].rsplit(" ", 1)[0] for k in keys) + " |",
            "|---|" + "---|" * len(keys),
        ]
        for row in summary["servers"].values():
            values = [show(row[k]) if row.get(k) else "-" for k in keys]
            lines.append(f"| {row['name']} | " + " | ".join(values) + " |")
    if summary["cold_start"]:
        lines += [
            "",
            "Cold start in a fresh interpreter (import, create_app with model load, first answer):",
            "",
            "| engine | import s | create_app s | first answer s | total s | RSS MB |",
            "|---|---|---|---|---|---|",
        ]
        for engine, f in summary["cold_start"].items():
            lines.append(
                f"| {engine} | {_fmt(f.get('import_s'), 2)} | {_fmt(f.get('create_app_s'), 2)} | "
                f"{_fmt(f.get('first_answer_s'), 3)} | {_fmt(f.get('total_s'), 2)} | "
                f"{_fmt(f.get('rss_mb'))} |"
            )
    if summary["ratios"]:
        lines += [
            "",
            "Ratios inside each run (median over runs) against the issue's targets:",
            "",
            "| ratio | measured | target |",
            "|---|---|---|",
        ]
        for name, value in summary["ratios"].items():
            lines.append(f"| {name} | {_fmt(value, 2)} | {target_of(name)} |")
    onnx = summary["servers"].get("onnxruntime", {})
    if onnx.get("worker_rss_mb") is not None:
        lines += [
            "",
            f"onnxruntime worker RSS: {onnx['worker_rss_mb']:.0f} MB (target < {TARGET_ONNX_RSS_MB:.0f} MB).",
        ]
    return "\n".join(lines) + "\n"


def target_of(name: str) -> str:
    if "in-process CPU per batch" in name:
        return "(the model's share of the server's CPU: the line above without wrk and noise)"
    if "CPU per request" in name:
        return "(noise-robust view of the line above)"
    if "no-op floor" in name:
        return (
            f">= {TARGET_TF_VS_FLOOR}" if name.startswith("tensorflow") else f">= {TARGET_FASTEST_VS_FLOOR}"
        )
    if "best peer" in name:
        return f">= {TARGET_JSON_VS_PEERS}"
    if "in-process" in name:
        return f">= {TARGET_BINARY_VS_COMPUTE}"
    if "batching on / off" in name:
        return "> 1 where batching is on by default"
    return "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one short run: no-op floor and onnxruntime app, 4 cells (a few seconds)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs (medians are reported; default 3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per cell (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured load before a server's cells")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma list of {', '.join(SERVERS)}")
    parser.add_argument("--cells", default=",".join(CELLS), help=f"comma list of {', '.join(CELLS)}")
    parser.add_argument(
        "--model-name",
        default="reference",
        help="model under models/ (default reference: the 784-512-256-62 network of the "
        "issue's reference table)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the images in the request bodies")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "bench", help="report folder")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the tables to this file")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load client (auto: wrk when installed)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for every app server (e.g. EMNIST_BATCHING_TIMEOUT_MICROS=0)",
    )
    parser.add_argument(
        "--gunicorn-args",
        default="",
        help='extra gunicorn options for every server, after --config (e.g. "--threads 8")',
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs in OUT/logs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.quick:
        args.runs, args.duration, args.warmup = 1, 1.0, 0.5
        server_keys, cell_keys = list(QUICK_SERVERS), list(QUICK_CELLS)
    else:
        server_keys = [k.strip() for k in args.servers.split(",") if k.strip()]
        cell_keys = [k.strip() for k in args.cells.split(",") if k.strip()]
    unknown = [k for k in server_keys if k not in SERVERS] + [k for k in cell_keys if k not in CELLS]
    if unknown:
        parser.error(f"unknown server or cell: {', '.join(unknown)}")
    if args.runs < 1 or args.duration <= 0:
        parser.error("--runs must be >= 1 and --duration > 0")
    extra_env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--env expects KEY=VALUE, got {item!r}")
        extra_env[key] = value
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    if args.client == "wrk" and shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    if not use_wrk:
        log.warning("wrk not found: using the Python client; figures are not comparable with wrk's")
    cells = [CELLS[k] for k in cell_keys]
    engines = sorted({SERVERS[k].engine for k in server_keys if SERVERS[k].engine})

    args.out.mkdir(parents=True, exist_ok=True)
    # Server logs (access logs: megabytes per run) are kept only with --keep-logs.
    log_dir = args.out / "logs" if args.keep_logs else Path(tempfile.mkdtemp(prefix="bench-logs-"))
    log_dir.mkdir(exist_ok=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-bodies-") as folder:
        bodies = write_bodies(Path(folder), args.seed)
        bench_settings = {
            "duration": args.duration,
            "warmup": args.warmup,
            "use_wrk": use_wrk,
            "env": extra_env,
            "gunicorn_args": shlex.split(args.gunicorn_args),
        }
        for run_index in range(args.runs):
            run: dict[str, Any] = {"run": run_index, "servers": [], "compute_floor": {}, "cold_start": {}}
            run["servers"] = bench_servers(
                server_keys, args.model_name, cells, bodies, bench_settings, log_dir, run_index
            )
            for engine in engines:
                try:
                    run["compute_floor"][engine] = run_script(
                        "compute_floor.py",
                        engine,
                        args.model_name,
                        ["--duration", str(max(0.5, args.duration / 2))],
                        300,
                    )
                    run["cold_start"][engine] = run_script("cold_start.py", engine, args.model_name, [], 300)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    log.error("%s", exc)
                    run.setdefault("script_errors", []).append(str(exc))
            run["ratios"] = ratios(run)
            runs.append(run)
    settings = {
        "runs": args.runs,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "model_name": args.model_name,
        "servers": server_keys,
        "cells": cell_keys,
        "client": "wrk" if use_wrk else "python (wrk missing)",
        "cpus": os.cpu_count(),
        "env": extra_env,
        "seed": args.seed,
        "gunicorn_args": args.gunicorn_args,
    }
    summary = summarize(runs, server_keys, cells)
    table = markdown(summary, cells, settings)
    if not args.keep_logs:
        shutil.rmtree(log_dir, ignore_errors=True)
    (args.out / "bench.json").write_text(
        json.dumps({"settings": settings, "summary": summary, "runs": runs}, indent=1)
    )
    (args.out / "bench.md").write_text(table)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)
    print(table)
    failed = [row["name"] for row in summary["servers"].values() if row["runs"] == 0]
    if failed:
        print(f"servers that never answered: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
