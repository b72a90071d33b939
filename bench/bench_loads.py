"""Load cells and the clients that run them: wrk for HTTP (the Python closed loop as a fallback), h2load for
gRPC (``grpc_load``, ``protocol_load``).

A cell's ``protocol`` says which client and which of the server's ports it loads: ``rest`` (TF Serving's
``:predict``, or ``path``), ``grpc`` (TF Serving's PredictionService), ``graphpipe``, ``v2-binary`` (the
Open Inference Protocol's REST with binary tensors) and ``v2-grpc``.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LUA_SCRIPT = Path(__file__).resolve().parent / "post_body.lua"


@dataclass(frozen=True)
class Cell:
    key: str
    body: str | None  # the REST body (bench_bodies); the other protocols build their own
    concurrency: int
    batch_size: int
    accept: str | None = None  # the Accept header (None: none, the server's JSON answer)
    protocol: str = "rest"
    path: str | None = None  # a REST cell's path (None: TF Serving's :predict of the model)

    @property
    def rest(self) -> bool:
        return self.protocol == "rest"


CELLS = {
    "b1_json_c1": Cell("b1_json_c1", "b1_json", 1, 1),
    "b1_json_c8": Cell("b1_json_c8", "b1_json", 8, 1),
    "b128_json_c1": Cell("b128_json_c1", "b128_json", 1, 128),
    "b128_json_c8": Cell("b128_json_c8", "b128_json", 8, 128),
    "b128_b64_c8": Cell("b128_b64_c8", "b128_b64", 8, 128),
    "b128_npy_c8": Cell("b128_npy_c8", "b128_npy", 8, 128),
    "b128_npy_npy_c8": Cell("b128_npy_npy_c8", "b128_npy", 8, 128, "application/x-npy"),
    "b1_predict_c1": Cell("b1_predict_c1", "b1_json", 1, 1, path="/predict"),
    "grpc_b1_c1": Cell("grpc_b1_c1", None, 1, 1, protocol="grpc"),
    "grpc_b1_c8": Cell("grpc_b1_c8", None, 8, 1, protocol="grpc"),
    "grpc_b128_c8": Cell("grpc_b128_c8", None, 8, 128, protocol="grpc"),
    "graphpipe_b1_c8": Cell("graphpipe_b1_c8", None, 8, 1, protocol="graphpipe"),
    "graphpipe_b128_c8": Cell("graphpipe_b128_c8", None, 8, 128, protocol="graphpipe"),
    "v2_binary_b1_c8": Cell("v2_binary_b1_c8", None, 8, 1, protocol="v2-binary"),
    "v2_binary_b128_c8": Cell("v2_binary_b128_c8", None, 8, 128, protocol="v2-binary"),
    "v2_grpc_b1_c8": Cell("v2_grpc_b1_c8", None, 8, 1, protocol="v2-grpc"),
    "v2_grpc_b128_c8": Cell("v2_grpc_b128_c8", None, 8, 128, protocol="v2-grpc"),
}
#: The cells the front end to a model server is measured on (it speaks REST only).
FRONT_END_CELLS = ("b1_json_c1", "b1_predict_c1", "b1_json_c8", "b128_json_c8")
QUICK_CELLS = ("b1_json_c8", "b128_json_c8", "b128_npy_c8", "b128_npy_npy_c8", "b1_predict_c1",
               "grpc_b1_c8", "graphpipe_b128_c8", "v2_binary_b128_c8", "v2_grpc_b1_c8")


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
