"""gRPC load cells with h2load: TF Serving's Predict over HTTP/2 with gRPC's framing, on a running server.

Each cell is one bounded h2load run (Debian's ``nghttp2-client``) posting the same length-prefixed
``PredictRequest`` (real validation images as float32 ``tensor_content``) to
``/tensorflow.serving.PredictionService/Predict``, one stream per connection, ``concurrency`` connections.
h2load counts HTTP statuses, and gRPC answers an error with status 200 and a ``grpc-status`` trailer; so
every cell first checks one request with the stock stub, and counts as errors the answers whose DATA
bytes fall short of a successful PredictResponse's (an error has no message).
Latency percentiles come from h2load's per-request log.

``run_cell(target, cell, duration)`` is what a benchmark matrix calls; ``python bench/grpc_load.py
--quick`` starts the model server (gRPC only, onnxruntime) and prints the figures of the three cells
(1 image at c=1 and c=8, batch 128 at c=8) as JSON; without ``--quick`` each cell runs longer, ``--runs``
times, and medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PREDICT_PATH = "/tensorflow.serving.PredictionService/Predict"
MODEL_NAME = "emnist"


@dataclass(frozen=True)
class GrpcCell:
    key: str
    batch_size: int
    concurrency: int


CELLS = {
    "grpc_b1_c1": GrpcCell("grpc_b1_c1", 1, 1),
    "grpc_b1_c8": GrpcCell("grpc_b1_c8", 1, 8),
    "grpc_b128_c8": GrpcCell("grpc_b128_c8", 128, 8),
}


def grpc_frame(message: bytes) -> bytes:
    """gRPC's length-prefixed message: a compressed flag (0), the length (4 bytes, big-endian), the bytes."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def validation_images(count: int) -> np.ndarray:
    """The first ``count`` shipped validation images as the model takes them: float32 [N,784] pixels/255."""
    with np.load(REPO / "data" / "validation.npz") as data:
        pixels = data["images"][:count]
    return (pixels.reshape(len(pixels), -1).astype(np.float32) / 255.0).astype("<f4")


def predict_request(images: np.ndarray, model: str = MODEL_NAME) -> Any:
    """A stock ``PredictRequest`` with the images as ``tensor_content`` (built by hand, no TensorFlow)."""
    from webapp.grpc.protos import predict_pb2, types_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    tensor = request.inputs["images"]
    tensor.dtype = types_pb2.DT_FLOAT
    for size in images.shape:
        tensor.tensor_shape.dim.add(size=size)
    tensor.tensor_content = np.ascontiguousarray(images, "<f4").tobytes()
    return request


def check_answer(target: str, request: Any) -> int:
    """One Predict with the stock stub: the size of the DATA a successful answer takes (frame included)."""
    import grpc

    from webapp.grpc.protos import prediction_service_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, 30.0)
    count = request.inputs["images"].tensor_shape.dim[0].size
    shape = [d.size for d in response.outputs["scores"].tensor_shape.dim]
    if shape != [count, 62]:
        raise RuntimeError(f"the server answered scores of shape {shape} for {count} images")
    return len(grpc_frame(response.SerializeToString()))


def _percentiles(log_file: Path) -> dict[str, float]:
    times = [int(line.split("\t")[2]) / 1000.0 for line in log_file.read_text().splitlines() if line.strip()]
    if not times:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan")}
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99)}


def _h2load(target: str, body: Path, concurrency: int, duration: float, log_file: Path | None) -> str:
    command = [
        "h2load", f"--duration={round(duration * 1000)}ms", f"--clients={concurrency}",
        "--max-concurrent-streams=1", "--threads=1", f"--data={body}",
        "--header=content-type: application/grpc", "--header=te: trailers",
        *([f"--log-file={log_file}"] if log_file else []), f"http://{target}{PREDICT_PATH}",
    ]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    if output.returncode != 0 or "requests:" not in output.stdout:
        raise RuntimeError(f"h2load exited with {output.returncode}: {output.stdout[-800:]} "
                           f"{output.stderr[-500:]}")
    return output.stdout


def run_cell(target: str, cell: GrpcCell, duration: float, warmup: float = 0.5,
             model: str = MODEL_NAME) -> dict[str, Any]:
    """One bounded h2load load on a running gRPC server (``host:port``): the cell's figures.

    The warm-up is a run of its own: within one run h2load counts the warm-up's DATA bytes too, and the
    error count below needs the measured requests' bytes alone.
    """
    if shutil.which("h2load") is None:
        raise RuntimeError("h2load is not installed (Debian: apt-get install nghttp2-client)")
    request = predict_request(validation_images(cell.batch_size), model)
    answer_bytes = check_answer(target, request)
    with tempfile.TemporaryDirectory(prefix="grpc-load-") as folder:
        body, log_file = Path(folder) / "request.bin", Path(folder) / "requests.log"
        body.write_bytes(grpc_frame(request.SerializeToString()))
        if warmup > 0:
            _h2load(target, body, cell.concurrency, warmup, None)
        text = _h2load(target, body, cell.concurrency, duration, log_file)
        latency = _percentiles(log_file)
    counts = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                       r"(\d+) errored, (\d+) timeout", text)
    finished = re.search(r"finished in ([0-9.]+)(us|ms|s),", text)
    seconds = float(finished.group(1)) / {"us": 1e6, "ms": 1e3, "s": 1.0}[finished.group(2)]
    data = int(re.search(r"\(([0-9]+)\) data", text).group(1))
    total, _, done, succeeded, failed, errored, timeouts = (int(x) for x in counts.groups())
    # A gRPC error is an HTTP 200 without a message: the DATA bytes missing from `succeeded` answers.
    grpc_errors = max(0, round((succeeded * answer_bytes - data) / answer_bytes))
    ok = succeeded - grpc_errors
    return {
        "client": "h2load",
        "requests_per_s": ok / seconds,
        "images_per_s": ok * cell.batch_size / seconds,
        "latency_ms": latency,
        "errors": failed + errored + timeouts + grpc_errors,
        "requests": done,
    }


def start_model_server(port: int, workers: int, engine: str, model: str = MODEL_NAME) -> subprocess.Popen:
    """Our model server, gRPC only (its own session, so that stopping it stops its workers)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("EMNIST_")}
    env.update(EMNIST_ENGINE=engine, EMNIST_MODEL_NAME=model, EMNIST_FILE_SYSTEM_POLL_SECONDS="0",
               EMNIST_GRPC_GRACE_SECONDS="2")
    command = [sys.executable, "-m", "webapp.model_server", "--port", str(port), "--rest_api_port", "0",
               "--grpc_workers", str(workers)]
    # Its log, read back if it fails (a pipe nobody reads could fill up); it lives as long as the process.
    log = tempfile.TemporaryFile()  # noqa: SIM115
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    process.log = log  # type: ignore[attr-defined]
    return process


def server_log(process: subprocess.Popen) -> str:
    log = getattr(process, "log", None)
    if log is None:
        return ""
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-1500:]


def wait_serving(target: str, process: subprocess.Popen, timeout: float = 120.0,
                 model: str = MODEL_NAME) -> None:
    request = predict_request(validation_images(1), model)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the model server exited: {server_log(process)}")
        try:
            check_answer(target, request)
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the model server does not answer: {exc}\n{server_log(process)}") \
                    from None
            time.sleep(0.2)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short pass (what the tests run)")
    parser.add_argument("--target", help="a running gRPC server (host:port); default: start ours")
    parser.add_argument("--engine", default="onnxruntime", choices=("onnxruntime", "tensorflow"))
    parser.add_argument("--model", default=MODEL_NAME, help="model to serve and ask (default emnist)")
    parser.add_argument("--workers", type=int, default=2, help="gRPC processes of the server we start")
    parser.add_argument("--duration", type=float, help="seconds per cell (default 2 quick, 10 full)")
    parser.add_argument("--runs", type=int, help="runs of every cell; medians printed (default 1 quick, 3)")
    args = parser.parse_args(argv)
    if shutil.which("h2load") is None:
        parser.error("h2load is not installed (Debian: apt-get install nghttp2-client)")
    # Quick cells still last 2 s: a loaded machine can take over 0.5 s per batch of 128 at c=8.
    duration = args.duration or (2.0 if args.quick else 10.0)
    runs = args.runs or (1 if args.quick else 3)
    server = None
    target = args.target
    if target is None:
        target = f"127.0.0.1:{free_port()}"
        server = start_model_server(int(target.rsplit(":", 1)[1]), args.workers, args.engine, args.model)
    try:
        if server is not None:
            wait_serving(target, server, model=args.model)
        results: dict[str, list[dict[str, Any]]] = {key: [] for key in CELLS}
        for _ in range(runs):
            for key, cell in CELLS.items():
                results[key].append(run_cell(target, cell, duration, warmup=0.3 if args.quick else 1.0,
                                             model=args.model))
    except Exception:
        if server is not None:
            print(server_log(server), file=sys.stderr)
        raise
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(60)
    summary = {
        key: {
            "client": "h2load",
            "requests_per_s": statistics.median(r["requests_per_s"] for r in cell_runs),
            "images_per_s": statistics.median(r["images_per_s"] for r in cell_runs),
            "latency_ms": {p: statistics.median(r["latency_ms"][p] for r in cell_runs)
                           for p in ("p50", "p90", "p99")},
            "errors": sum(r["errors"] for r in cell_runs),
            "requests": sum(r["requests"] for r in cell_runs),
        }
        for key, cell_runs in results.items()
    }
    print(json.dumps({"target": target, "model": args.model, "engine": args.engine if server else None,
                      "runs": runs,
                      "duration_s": duration, "cells": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
