"""gRPC load cells with h2load: TF Serving's Predict over HTTP/2 with gRPC's framing, on a running server.

Each cell is one bounded h2load run (Debian's ``nghttp2-client``) posting the same length-prefixed
``PredictRequest`` (real validation images as float32 ``tensor_content``) to
``/tensorflow.serving.PredictionService/Predict``, one stream per connection, ``concurrency`` connections.
h2load counts HTTP statuses, and gRPC answers an error with status 200 and a ``grpc-status`` trailer; so
every cell first checks one request with the stock stub, and counts as errors the answers whose DATA
bytes fall short of a successful PredictResponse's (an error has no message).
Latency percentiles come from h2load's per-request log.

``run_cell(target, cell, duration)`` is what ``bench/run_bench.py`` calls for its gRPC cells (on the
model server's gRPC workers it starts beside each app); ``wait_serving`` is how it waits for them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent

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
    from tf_serving_protos.tensorflow.core.framework import types_pb2
    from tf_serving_protos.tensorflow_serving.apis import predict_pb2

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

    from tf_serving_protos.tensorflow_serving.apis import prediction_service_pb2_grpc

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


def wait_serving(target: str, process: subprocess.Popen, timeout: float, model: str,
                 log_tail: Callable[[], str]) -> None:
    """Until the server at ``target`` answers a Predict (RuntimeError with its log if it exits or never)."""
    request = predict_request(validation_images(1), model)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the model server exited: {log_tail()}")
        try:
            check_answer(target, request)
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the model server does not answer: {exc}\n{log_tail()}") from None
            time.sleep(0.2)
