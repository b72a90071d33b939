"""The benchmark's report: target ratios inside a run, medians over runs, and the Markdown tables."""

from __future__ import annotations

import statistics
from typing import Any

from bench_loads import Cell
from bench_servers import SERVERS

#: Best figures of the established servers measured on this machine (docs/benchmarks.md, wrk, c=8).
BEST_PEER_1_IMAGE_C8 = 1220.0  # TorchServe 0.12, req/s
BEST_PEER_128_C8 = 7650.0  # MLServer 1.7, images/s
#: The targets the serving figures are held against (docs/benchmarks.md).
TARGET_FASTEST_VS_FLOOR = 0.8
TARGET_TF_VS_FLOOR = 0.6
TARGET_JSON_VS_PEERS = 2.0
TARGET_BINARY_VS_COMPUTE = 0.6
TARGET_ONNX_RSS_MB = 150.0
TARGET_GRPC_VS_REST = 1.5
TARGET_GRPC_128_VS_COMPUTE = 0.8
TARGET_GRAPHPIPE_VS_COMPUTE = 0.8
TARGET_V2_BINARY_VS_COMPUTE = 0.7
TARGET_V2_GRPC_VS_GRPC = 0.1  # within 10 %
TARGET_FRONT_END_MS = 1.0
#: The cells of the other protocols' table (and the front end's /predict), in its column order.
PROTOCOL_CELLS = ("b1_predict_c1", "grpc_b1_c1", "grpc_b1_c8", "grpc_b128_c8", "graphpipe_b1_c8",
                  "graphpipe_b128_c8", "v2_binary_b1_c8", "v2_binary_b128_c8", "v2_grpc_b1_c8",
                  "v2_grpc_b128_c8")
FRONT_END_RATIO = "front end /predict 1 image c=1: p50 over in-process onnxruntime's (ms)"


def ratios(run: dict[str, Any]) -> dict[str, float]:
    """The target ratios inside one run (missing servers give no ratio)."""
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
    out.update(protocol_ratios(run, cell))
    return out


def protocol_ratios(run: dict[str, Any], cell: Any) -> dict[str, float]:
    """The other protocols' targets: gRPC against REST and the compute floor, GraphPipe and V2 against the
    compute floor, V2 gRPC against TF Serving's gRPC, and what the front end adds to /predict."""
    out: dict[str, float] = {}
    for engine in ("onnxruntime", "tensorflow"):
        compute = run.get("compute_floor", {}).get(engine, {})
        best_compute = max(
            (v for k, v in compute.items() if k.startswith("b128_") and k.endswith("_images_per_s")),
            default=None,
        )
        grpc, rest = cell(engine, "grpc_b1_c8"), cell(engine, "b1_json_c8")
        if grpc is not None and rest:
            out[f"{engine} gRPC 1 image c=8 / REST :predict 1 image c=8"] = grpc / rest
        for key, title in (("grpc_b128_c8", "gRPC tensor_content"), ("graphpipe_b128_c8", "GraphPipe"),
                           ("v2_binary_b128_c8", "V2 REST binary")):
            value = cell(engine, key, "images_per_s")
            if value is not None and best_compute:
                out[f"{engine} batch 128 {title} c=8 / in-process engine"] = value / best_compute
        v2_grpc = cell(engine, "v2_grpc_b1_c8")
        if v2_grpc is not None and grpc:
            out[f"{engine} V2 gRPC 1 image c=8 / TF Serving gRPC 1 image c=8"] = v2_grpc / grpc
    front, local = cell("front-end", "b1_predict_c1", "latency_ms"), cell("onnxruntime", "b1_predict_c1",
                                                                           "latency_ms")
    if front is not None and local is not None:
        out[FRONT_END_RATIO] = front["p50"] - local["p50"]
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


CELL_TITLES = {
    "b1_json_c1": "1 image c=1 req/s",
    "b1_json_c8": "1 image c=8 req/s",
    "b128_json_c1": "128 JSON c=1 img/s",
    "b128_json_c8": "128 JSON c=8 img/s",
    "b128_b64_c8": "128 b64 c=8 img/s",
    "b128_npy_c8": "128 npy c=8 img/s",
    "b128_npy_npy_c8": "128 npy->npy c=8 img/s",
    "b1_predict_c1": "/predict 1 image c=1 req/s",
    "grpc_b1_c1": "gRPC 1 image c=1 req/s",
    "grpc_b1_c8": "gRPC 1 image c=8 req/s",
    "grpc_b128_c8": "gRPC 128 c=8 img/s",
    "graphpipe_b1_c8": "GraphPipe 1 image c=8 req/s",
    "graphpipe_b128_c8": "GraphPipe 128 c=8 img/s",
    "v2_binary_b1_c8": "V2 binary 1 image c=8 req/s",
    "v2_binary_b128_c8": "V2 binary 128 c=8 img/s",
    "v2_grpc_b1_c8": "V2 gRPC 1 image c=8 req/s",
    "v2_grpc_b128_c8": "V2 gRPC 128 c=8 img/s",
}


def _throughput(figures: dict[str, Any], key: str) -> str:
    return _fmt(figures["images_per_s" if CELL_TITLES[key].endswith("img/s") else "requests_per_s"])


def _table(summary: dict[str, Any], keys: list[str], with_rss: bool) -> list[str]:
    """Throughput per server (rows that have any of ``keys``), then the compute floors, latency and CPU."""
    rows = [row for row in summary["servers"].values() if with_rss or any(row.get(k) for k in keys)]
    extra = " RSS/worker MB | spawn to 1st answer s |" if with_rss else ""
    lines = ["| server | " + " | ".join(CELL_TITLES[k] for k in keys) + " |" + extra,
             "|---|" + "---|" * (len(keys) + (2 if with_rss else 0))]
    for row in rows:
        values = [_throughput(row[key], key) if row.get(key) else "-" for key in keys]
        failed = " (failed: see bench.json)" if row.get("failures") and not row["runs"] else ""
        rss = f" {_fmt(row.get('worker_rss_mb'))} | {_fmt(row.get('cold_start_s'), 2)} |" if with_rss else ""
        lines.append(f"| {row['name']}{failed} | " + " | ".join(values) + " |" + rss)
    for engine, figures in summary["compute_floor"].items():
        values = []
        for key in keys:
            size = 128 if "128" in key else 1
            best = max((figures.get(f"b{size}_t{t}_images_per_s") or 0) for t in (1, 2))
            values.append(_fmt(best) if best else "-")
        lines.append(f"| in-process {engine} (compute floor, best of 1-2 threads) | " + " | ".join(values)
                     + " |" + (" - | - |" if with_rss else ""))
    per_cell = (
        ("Latency (ms, p50 / p99):", lambda f: f"{f['p50_ms']:.2f} / {f['p99_ms']:.2f}"),
        ("Server CPU time per request (us, all the server's processes; barely moved by outside load):",
         lambda f: _fmt(f.get("cpu_us"))),
    )
    for title, show in per_cell:
        lines += ["", title, "",
                  "| server | " + " | ".join(CELL_TITLES[k].rsplit(" ", 1)[0] for k in keys) + " |",
                  "|---|" + "---|" * len(keys)]
        for row in rows:
            lines.append(f"| {row['name']} | " + " | ".join(show(row[k]) if row.get(k) else "-" for k in keys)
                         + " |")
    return lines


def markdown(summary: dict[str, Any], cells: list[Cell], settings: dict[str, Any]) -> str:
    """The benchmark page's tables: REST figures per server, the other protocols, floors, cold start and
    the target ratios."""
    keys = [c.key for c in cells]
    rest_keys = [k for k in keys if k not in PROTOCOL_CELLS]
    protocol_keys = [k for k in keys if k in PROTOCOL_CELLS]
    lines = [
        f"Medians of {settings['runs']} run(s), {settings['duration_s']:g} s per cell, load client "
        f"{settings['client']} (h2load for gRPC), model `{settings['model_name']}`, gunicorn.conf.py as "
        f"shipped, {settings['cpus']} CPUs shared by client and server.",
        "",
    ]
    if rest_keys:
        lines += ["TensorFlow Serving's REST API (`:predict`):", ""] + _table(summary, rest_keys, True)
    if protocol_keys:
        lines += ["", "`/predict`, TensorFlow Serving's gRPC API, GraphPipe and the Open Inference Protocol "
                  "(gRPC on the model server's gRPC workers beside the same app):", ""]
        lines += _table(summary, protocol_keys, False)
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
        lines += ["", "Ratios inside each run (median over runs) against the targets:", "",
                  "| ratio | measured | target |", "|---|---|---|"]
        for name, value in summary["ratios"].items():
            lines.append(f"| {name} | {_fmt(value, 2)} | {target_of(name)} |")
    onnx = summary["servers"].get("onnxruntime", {})
    if onnx.get("worker_rss_mb") is not None:
        lines += ["", f"onnxruntime worker RSS: {onnx['worker_rss_mb']:.0f} MB "
                      f"(target < {TARGET_ONNX_RSS_MB:.0f} MB)."]
    return "\n".join(lines) + "\n"


def target_of(name: str) -> str:
    if name == FRONT_END_RATIO:
        return f"<= {TARGET_FRONT_END_MS:g} ms"
    if "gRPC 1 image c=8 / REST" in name:
        return f">= {TARGET_GRPC_VS_REST}"
    if "/ TF Serving gRPC" in name:
        return f"{1 - TARGET_V2_GRPC_VS_GRPC:.2f}-{1 + TARGET_V2_GRPC_VS_GRPC:.2f} (within 10 %)"
    if "gRPC tensor_content" in name:
        return f">= {TARGET_GRPC_128_VS_COMPUTE}"
    if "GraphPipe" in name:
        return f">= {TARGET_GRAPHPIPE_VS_COMPUTE}"
    if "V2 REST binary" in name:
        return f">= {TARGET_V2_BINARY_VS_COMPUTE}"
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
