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
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import grpc_load
import protocol_load
from bench_bodies import chosen_images, write_bodies
from bench_loads import CELLS, FRONT_END_CELLS, QUICK_CELLS, Cell, run_python_client, run_wrk
from bench_report import markdown, ratios, summarize
from bench_servers import PYTHON, REPO, SERVERS, RunningServer

log = logging.getLogger("bench")
QUICK_SERVERS = ("noop", "onnxruntime", "front-end")


def run_script(script: str, engine: str, model_name: str, extra: list[str], timeout: float) -> dict[str, Any]:
    """bench/cold_start.py or bench/compute_floor.py in a fresh interpreter -> its JSON line."""
    command = [PYTHON, str(REPO / "bench" / script), "--engine", engine, "--model-name", model_name, *extra]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{script} --engine {engine} failed ({result.returncode}): {result.stderr[-400:]}")
    return json.loads(lines[-1])


def serves(server: RunningServer, cell: Cell) -> bool:
    """Whether ``cell`` is measured on ``server``: the other protocols only where they are served."""
    if server.server.front_end_of:
        return cell.key in FRONT_END_CELLS
    if server.server.engine is None:  # the no-op floor answers TF Serving's route only
        return cell.rest and cell.path is None
    return cell.rest or server.server.protocols


def measure_cell(
    server: RunningServer, cell: Cell, bodies: dict[str, tuple[Path, str]], settings: dict[str, Any],
) -> dict[str, Any]:
    """One load on one server; also the server's CPU time per request, which outside load barely moves.

    The gRPC cells are loaded on the server's gRPC twin and charged its CPU; the others on gunicorn.
    """
    duration, model_name = settings["duration"], settings["model_name"]
    on_grpc = cell.protocol in ("grpc", "v2-grpc")
    measured = server.grpc if on_grpc else server
    cpu_before = measured.cpu_seconds()
    if cell.rest:
        path, content_type = bodies[cell.body]
        url = server.base_url + cell.path if cell.path else server.url
        if settings["use_wrk"]:
            figures = run_wrk(url, path, content_type, cell.concurrency, duration, cell.accept)
        else:
            figures = run_python_client(
                url, path, content_type, cell.concurrency, cell.batch_size, duration, cell.accept
            )
    elif cell.protocol == "grpc":
        figures = grpc_load.run_cell(server.grpc.target, grpc_load.GrpcCell(cell.key, cell.batch_size,
                                                                             cell.concurrency),
                                     duration, warmup=0, model=model_name)
    else:
        urls = {"rest": server.base_url, "graphpipe": server.graphpipe_url or "",
                "grpc": server.grpc.target if server.grpc else ""}
        figures = protocol_load.run_cell(
            protocol_load.ProtocolCell(cell.key, cell.protocol, cell.batch_size, cell.concurrency),
            settings["images"], urls, duration, settings["folder"], model_name)
    cpu = measured.cpu_seconds() - cpu_before
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
    warmup, use_wrk = settings["warmup"], settings["use_wrk"]
    results = {key: {"server": key, "name": SERVERS[key].name, "cells": {}} for key in keys}
    running: dict[str, RunningServer] = {}
    probe_path, probe_type = bodies["b1_json"]
    # A front end starts after the server whose gRPC twin it fronts.
    keys_in_start_order = sorted(keys, key=lambda key: SERVERS[key].front_end_of is not None)
    try:
        for key in keys_in_start_order:  # one at a time, so each cold start is measured on a quiet set
            fronted = SERVERS[key].front_end_of
            if fronted and (fronted not in running or running[fronted].grpc is None):
                results[key]["error"] = f"needs the server {fronted} (and its gRPC twin) in the run"
                continue
            log_name = key.replace("+", "_")
            server = RunningServer(
                SERVERS[key],
                model_name,
                log_dir / f"{log_name}_run{run_index}.log",
                settings["env"],
                settings["gunicorn_args"],
                model_server=f"grpc://{running[fronted].grpc.target}" if fronted else None,
            )
            try:
                results[key]["cold_start_s"] = server.wait_first_answer(
                    probe_path.read_bytes(), probe_type, 180
                )
                if SERVERS[key].protocols and any(not cell.rest for cell in cells):
                    server.start_grpc(model_name, log_dir / f"{log_name}_grpc_run{run_index}.log")
                    server.grpc.wait_serving(180)
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
                if not serves(running[key], cell):
                    continue
                try:
                    figures = measure_cell(running[key], cell, bodies, settings)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                    log.error("%s %s: %s", SERVERS[key].name, cell.key, exc)
                    results[key].setdefault("cell_errors", {})[cell.key] = str(exc)
                    continue
                results[key]["cells"][cell.key] = figures
                log.info(
                    "run %d %-28s %-17s %9.0f req/s %9.0f img/s p50 %.2f ms p99 %.2f ms errors %d"
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
        "reference table in docs/benchmarks.md)",
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
            "model_name": args.model_name,
            "images": chosen_images(args.seed),
            "folder": Path(folder),
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
