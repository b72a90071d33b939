"""Our model server against established Python model servers, on the same model and the same load clients.

    python bench/peers/run.py --runs 3            # every server, every cell, 5 s per cell (~10-15 min)
    python bench/peers/run.py --quick             # one run of 2 s per cell (CI), docs untouched
    python bench/peers/run.py --cores 1,2         # a sweep: servers pinned (taskset) to 1, then 2 cores

Each peer (MLServer, BentoML, LitServe, TorchServe) is installed from PyPI at pinned versions into its own
virtual environment, cached in ``~/.cache/emnist-peers`` (``peer_venvs.py``); a peer whose packages do not
install, or TorchServe without a Java runtime, is skipped with the reason printed. Every server serves the
served version's ``model.onnx`` with onnxruntime (``peer_servers.py``), one worker per core, and is loaded
cell by cell, every server back to back within a cell (``peer_loads.py``): wrk for REST JSON (1 image at
c=1 and c=8, batch 128 at c=8), h2load for gRPC (V2 ``ModelInfer`` where spoken, TF Serving's ``Predict``
on ours; 1 image and batch 128 at c=8). Servers run on the first N cores of this process's affinity; the
load clients on the others, or on the same ones when none are left. Output: one table (requests/s,
images/s, p50/p99, server CPU per request, RSS of all the server's processes, each row with its core
count), ours against the best peer per cell, ``reports/peers/peers.json``; a full run also writes the
figures into docs/benchmarks.md and the ratios into the README (between their marker comments).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PEERS_DIR = Path(__file__).resolve().parent
sys.path[1:1] = [str(PEERS_DIR.parent), str(PEERS_DIR.parents[1])]  # bench/'s modules, the repository

import peer_servers  # noqa: E402
from peer_loads import CELLS, measure, serves  # noqa: E402
from peer_report import DOCS_MARKERS, README_MARKERS, ratio_table, ratios, replace_between, report, summarize  # noqa: E402
from peer_venvs import DEFAULT_CACHE, InstallError, PeerEnv, ensure_env, peer_pins, project_pin  # noqa: E402

log = logging.getLogger("peers")
REPO = PEERS_DIR.parents[1]
PEERS = ("mlserver", "bentoml", "litserve", "torchserve")
READY_TIMEOUT_S = 240


#: The cores this process may run on when it starts (it narrows its own affinity to the clients' cores).
ALL_CPUS = sorted(os.sched_getaffinity(0))


def core_sets(count: int) -> tuple[str, set[int]]:
    """(the servers' taskset list, the load clients' cores) for ``count`` server cores."""
    cpus = ALL_CPUS
    if not 1 <= count <= len(cpus):
        raise ValueError(f"--cores {count}: this process may run on {len(cpus)} cores")
    servers, rest = cpus[:count], cpus[count:]
    return ",".join(map(str, servers)), set(rest or cpus)


def shown_command(argv: list[str]) -> str:
    """The command as the report shows it: without --note's sentence, which the report quotes itself."""
    shown, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--note="):
            skip = False
            continue
        if arg == "--note":
            skip = True
            continue
        shown.append(arg)
    return shlex.join(["python", "bench/peers/run.py", *shown])


def clients_text(count: int) -> str:
    clients = core_sets(count)[1]
    if clients == set(ALL_CPUS):
        return f"on the same {count} cores"
    return f"on the other {len(clients)} core(s) with {count}"


def start(key: str, env: PeerEnv | None, settings: dict[str, Any], cpus: str, workers: int,
          folder: Path) -> peer_servers.PeerServer:
    model_file, model_name = settings["model_file"], settings["model_name"]
    if key == "ours":
        return peer_servers.start_ours(sys.executable, model_name, cpus, workers, folder)
    if key == "mlserver":
        return peer_servers.start_mlserver(env.bin, model_file, model_name, cpus, workers, folder)
    if key == "bentoml":
        return peer_servers.start_bentoml(env.bin, model_file, cpus, workers, folder)
    if key == "litserve":
        return peer_servers.start_litserve(env.bin, model_file, cpus, workers, folder)
    return peer_servers.start_torchserve(env.bin, model_file, model_name, cpus, workers, folder)


def one_run(run_index: int, cores: int, envs: dict[str, PeerEnv | None], cell_keys: list[str],
            settings: dict[str, Any]) -> dict[str, Any]:
    """Start every server on ``cores`` cores, load them cell by cell (order rotating per run), stop them."""
    cpus, client_cpus = core_sets(cores)
    results: dict[str, dict[str, Any]] = {}
    running: dict[str, peer_servers.PeerServer] = {}
    folder = Path(tempfile.mkdtemp(prefix=f"peers-run{run_index}-", dir=settings["scratch"]))
    try:
        for key, env in envs.items():  # all start at once; each is waited for below
            results[key] = {"name": peer_servers.SERVER_NAMES[key], "cells": {}}
            try:
                running[key] = start(key, env, settings, cpus, cores, folder)
            except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
                results[key]["error"] = f"could not start: {exc}"
                log.error("%s: %s", key, results[key]["error"])
        for key, server in list(running.items()):
            try:
                results[key]["ready_s"] = server.wait_ready(settings["probe"][server.rest_format],
                                                            settings["expected"][:1], READY_TIMEOUT_S)
            except RuntimeError as exc:
                results[key]["error"] = str(exc)
                log.error("%s", exc)
                server.stop()
                del running[key]
        os.sched_setaffinity(0, client_cpus)  # the load clients (wrk, h2load) inherit it
        order = list(running)
        shift = run_index % max(1, len(order))
        order = order[shift:] + order[:shift]
        for cell_key in cell_keys:
            cell = CELLS[cell_key]
            for key in order:
                server = running[key]
                if not serves(server, cell):
                    continue
                try:
                    figures = measure(server, cell, {**settings, "folder": folder})
                except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                    log.error("%s %s: %s", server.name, cell_key, exc)
                    results[key].setdefault("cell_errors", {})[cell_key] = str(exc)
                    continue
                results[key]["cells"][cell_key] = figures
                log.info("run %d, %d cores: %-28s %-16s %8.0f req/s %9.0f img/s p50 %.2f ms p99 %.2f ms "
                         "errors %d server CPU %.0f us/req", run_index, cores, server.name, cell_key,
                         figures["requests_per_s"], figures["images_per_s"], figures["latency_ms"]["p50"],
                         figures["latency_ms"]["p99"], figures["errors"],
                         figures["server_cpu_us_per_request"])
        for key, server in running.items():
            results[key]["rss_mb"], results[key]["processes"] = server.rss_mb()
    finally:
        os.sched_setaffinity(0, set(ALL_CPUS))
        for server in running.values():
            server.stop()
    return {"run": run_index, "cores": cores, "servers": results}


def peer_envs(keys: list[str], cache: Path, skipped: dict[str, str]) -> dict[str, PeerEnv | None]:
    """Each peer's environment (missing ones installed side by side); those that cannot run go to
    ``skipped`` with the reason, which is printed."""
    envs: dict[str, PeerEnv | None] = {"ours": None}
    wanted = []
    for key in keys:
        if key == "torchserve" and (reason := peer_servers.java_missing()):
            skipped[peer_servers.SERVER_NAMES[key]] = reason
        else:
            wanted.append(key)
    with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
        futures = {key: pool.submit(ensure_env, key, cache, lambda text: print(text, flush=True))
                   for key in wanted}
        for key, future in futures.items():
            try:
                envs[key] = future.result()
            except InstallError as exc:
                skipped[peer_servers.SERVER_NAMES[key]] = f"its packages do not install: {exc}"
    for name, reason in skipped.items():
        print(f"skipping {name}: {reason}", flush=True)
    return envs


def versions_text(envs: dict[str, PeerEnv | None]) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    parts = [f"ours at {commit or 'this checkout'}"]
    for key, env in envs.items():
        if env is not None:
            main = peer_pins()[key][0].split("==")[0]
            parts.append(f"{peer_servers.SERVER_NAMES[key]} {env.versions.get(main, '?')}")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs (medians are reported; default 3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per cell (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured load before each cell (s)")
    parser.add_argument("--quick", action="store_true", help="1 run of 2 s per cell; docs untouched")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma list of {', '.join(PEERS)}")
    parser.add_argument("--cells", default=",".join(CELLS), help=f"comma list of {', '.join(CELLS)}")
    parser.add_argument("--cores", default=str(len(ALL_CPUS)),
                        help="comma list of server core counts, a run set each (default: all cores)")
    parser.add_argument("--model-name", default="emnist", help="model under models/ (its newest version)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation images sent")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the peers' venvs live")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "peers", help="report folder")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md, README alone")
    parser.add_argument("--note", default="", help="a sentence for the docs (e.g. what else ran)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.quick:
        args.runs, args.duration, args.warmup, args.no_docs = 1, 2.0, 1.0, True
    peer_keys = [k.strip() for k in args.peers.split(",") if k.strip()]
    cell_keys = [k.strip() for k in args.cells.split(",") if k.strip()]
    unknown = [k for k in peer_keys if k not in PEERS] + [k for k in cell_keys if k not in CELLS]
    if unknown:
        parser.error(f"unknown peer or cell: {', '.join(unknown)}")
    try:
        core_counts = [int(c) for c in args.cores.split(",") if c.strip()]
        for count in core_counts:
            core_sets(count)
    except ValueError as exc:
        parser.error(f"--cores: {exc}")
    if args.runs < 1 or args.duration <= 0:
        parser.error("--runs must be >= 1 and --duration > 0")

    from bench_bodies import chosen_images
    from onnx_model import OnnxModel

    model_file = peer_servers.version_dir(args.model_name) / "model.onnx"
    images = chosen_images(args.seed)
    expected = OnnxModel(str(model_file)).predict(images.reshape(len(images), -1) / 255.0)
    skipped: dict[str, str] = {}
    envs = peer_envs(peer_keys, args.cache, skipped)
    args.out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="peers-") as scratch:
        bodies = {}
        for kind in ("tfserving", "v2", "bentoml"):
            for size in (1, 128):
                path = Path(scratch) / f"{kind}-{size}.json"
                path.write_bytes(peer_servers.rest_body(kind, images[:size]))
                bodies[(kind, size)] = path
        settings = {"model_name": args.model_name, "model_file": model_file, "images": images,
                    "expected": expected, "bodies": bodies, "duration": args.duration, "warmup": args.warmup,
                    "scratch": scratch, "probe": {kind: bodies[(kind, 1)].read_bytes()
                                                  for kind in ("tfserving", "v2", "bentoml")}}
        runs = [one_run(index, cores, envs, cell_keys, settings)
                for cores in core_counts for index in range(args.runs)]
    rows, entries = summarize(runs, cell_keys), ratios(runs, cell_keys)
    meta = {
        "command": shown_command(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"), "runs": args.runs,
        "duration_s": args.duration, "cores": core_counts, "machine_cores": os.cpu_count(),
        "client_cores": "; ".join(clients_text(count) for count in core_counts),
        "model": f"models/{args.model_name}/{model_file.parent.name}/model.onnx",
        "onnxruntime": project_pin("onnxruntime").split("==")[1], "versions": versions_text(envs),
        "skipped": skipped, "note": args.note,
        "load_average": f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after",
    }
    text = report(rows, entries, meta)
    (args.out / "peers.json").write_text(json.dumps(
        {"settings": {k: v for k, v in meta.items()}, "rows": rows, "ratios": entries, "runs": runs},
        indent=1, default=str))
    (args.out / "peers.md").write_text(text)
    print(text)
    if not args.no_docs:
        replace_between(REPO / "docs" / "benchmarks.md", DOCS_MARKERS, text)
        replace_between(REPO / "README.md", README_MARKERS, ratio_table(entries, compact=True))
        print("wrote docs/benchmarks.md and README.md")
    failed = [entry["name"] for run in runs for entry in run["servers"].values() if "error" in entry]
    if failed:
        print(f"servers that did not answer: {', '.join(sorted(set(failed)))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
