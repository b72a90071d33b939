"""Load cells for GraphPipe and the Open Inference Protocol (V2 REST with binary tensors, V2 gRPC).

Each cell is one bounded load against a running server, with an established load generator: wrk (with
``post_headers.lua``) for the HTTP protocols, h2load (Debian's ``nghttp2-client``) with gRPC's framing for
V2 gRPC. Bodies are made once from real validation images by the protocols' own clients (GraphPipe's
``convert``, tritonclient's ``generate_request_body``, the service's generated messages) as float32
pixels/255 (``*_uint8_*`` cells: uint8 pixels, the bytes of the TF Serving ``.npy`` cell), and each cell
first checks that one real answer holds N x 62 scores. A cell returns
``{"client", "requests_per_s", "images_per_s", "latency_ms": {"p50", "p90", "p99"}, "errors",
"requests"}``.

``python bench/protocol_load.py --quick`` starts gunicorn (the repository's config, onnxruntime, the
GraphPipe port on) and a V2 gRPC server (``v2_grpc_server.py``), runs every cell (GraphPipe and V2 at
batch 128 c=8 and 1 image c=8, beside TF Serving REST ``:predict`` and the in-process compute floor)
briefly, and prints the figures and the ratios the benchmark page quotes. Without ``--quick``: 3 runs
of 5 s per cell, medians.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from bench_servers import PYTHON, REPO, RunningServer, Server, free_port  # bench/ is the script's folder

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.tensors import NUM_PIXELS, pixels_to_unit

HEADERS_SCRIPT = Path(__file__).resolve().parent / "post_headers.lua"
BODY_SCRIPT = Path(__file__).resolve().parent / "post_body.lua"
V2_HEADER = "Inference-Header-Content-Length"
GRPC_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"


@dataclass(frozen=True)
class ProtocolCell:
    key: str
    protocol: str  # graphpipe | v2-binary | v2-grpc | tfserving-npy | tfserving-json
    batch_size: int
    concurrency: int
    #: The tensor's element type: float32 pixels/255 (the model's input) or uint8 pixels (4x fewer bytes,
    #: as the TF Serving .npy cell sends).
    dtype: str = "float32"


CELLS = {cell.key: cell for cell in (
    ProtocolCell("graphpipe_b128_c8", "graphpipe", 128, 8),
    ProtocolCell("graphpipe_b1_c8", "graphpipe", 1, 8),
    ProtocolCell("graphpipe_uint8_b128_c8", "graphpipe", 128, 8, "uint8"),
    ProtocolCell("v2_binary_b128_c8", "v2-binary", 128, 8),
    ProtocolCell("v2_binary_b1_c8", "v2-binary", 1, 8),
    ProtocolCell("v2_binary_uint8_b128_c8", "v2-binary", 128, 8, "uint8"),
    ProtocolCell("v2_grpc_b128_c8", "v2-grpc", 128, 8),
    ProtocolCell("v2_grpc_b1_c8", "v2-grpc", 1, 8),
    ProtocolCell("tfserving_npy_b128_c8", "tfserving-npy", 128, 8),
    ProtocolCell("tfserving_json_b1_c8", "tfserving-json", 1, 8),
)}


def _scores_ok(scores: Any, count: int) -> None:
    array = np.asarray(scores)
    if array.shape != (count, NUM_CLASSES) or not np.allclose(array.sum(axis=1), 1, atol=1e-3):
        raise RuntimeError(f"the server's answer is not {count} x {NUM_CLASSES} scores: {array.shape}")


def tensor(images: np.ndarray, dtype: str = "float32") -> np.ndarray:
    """[N,784] float32 pixels/255, or the uint8 pixels themselves."""
    rows = images.reshape(len(images), NUM_PIXELS)
    return rows.astype(np.uint8) if dtype == "uint8" else pixels_to_unit(rows)


def graphpipe_body(images: np.ndarray, dtype: str = "float32") -> bytes:
    """A GraphPipe InferRequest of the images [N,784], serialized by GraphPipe's own client."""
    from graphpipe import convert

    x = tensor(images, dtype)
    return bytes(convert.serialize_infer_request(convert.InferReq(None, [x], None, None)))


def v2_binary_body(images: np.ndarray, dtype: str = "float32") -> tuple[bytes, int]:
    """(body, JSON length) of a V2 infer request of binary FP32 or UINT8 tensors, by tritonclient.http."""
    import tritonclient.http as httpclient

    x = tensor(images, dtype)
    datatype = "UINT8" if dtype == "uint8" else "FP32"
    inputs = [httpclient.InferInput("images", list(x.shape), datatype)]
    inputs[0].set_data_from_numpy(x, binary_data=True)
    wanted = [httpclient.InferRequestedOutput("scores", binary_data=True)]
    body, json_size = httpclient.InferenceServerClient.generate_request_body(inputs, outputs=wanted)
    return body, json_size


def v2_grpc_message(images: np.ndarray, model: str) -> bytes:
    """A serialized ModelInferRequest with raw_input_contents (what tritonclient.grpc sends)."""
    from webapp.grpc.v2 import open_inference_grpc_pb2 as pb

    x = pixels_to_unit(images.reshape(len(images), NUM_PIXELS))
    request = pb.ModelInferRequest(model_name=model)
    request.inputs.add(name="images", datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(x.astype("<f4").tobytes())
    return request.SerializeToString()


def _wrk(script: Path, url: str, body: Path, args: list[str], concurrency: int, duration: float
         ) -> dict[str, Any]:
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
               "-s", str(script), url, "--", str(body), *args]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    line = next((x for x in output.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary: {output.stdout[-300:]} {output.stderr[-300:]}")
    raw = json.loads(line[len("WRK_JSON "):])
    ok = raw["requests"] - raw["errors"]["status"]
    return {"client": "wrk", "requests_per_s": ok / (raw["duration_us"] / 1e6),
            "latency_ms": {k: raw["latency_us"][k] / 1000.0 for k in ("p50", "p90", "p99")},
            "errors": sum(raw["errors"].values()), "requests": raw["requests"]}


def http_cell(url: str, body: bytes, content_type: str, headers: dict[str, str], concurrency: int,
              duration: float, folder: Path) -> dict[str, Any]:
    """One bounded wrk load of ``body`` POSTed with ``headers``."""
    path = folder / f"body-{abs(hash(body))}.bin"
    path.write_bytes(body)
    return _wrk(HEADERS_SCRIPT, url, path, [content_type, *(f"{k}: {v}" for k, v in headers.items())],
                concurrency, duration)


def grpc_cell(target: str, message: bytes, concurrency: int, duration: float, folder: Path,
              expected_bytes: int) -> dict[str, Any]:
    """One bounded h2load run of a unary gRPC call (length-prefixed message, gRPC's headers).

    h2load reads HTTP statuses, not gRPC's: a cell counts an answer as an error unless its data is at
    least ``expected_bytes`` (the scores), and the caller checks one real answer first.
    """
    body = folder / f"grpc-{abs(hash(message))}.bin"
    body.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)
    log = folder / "h2load.tsv"
    command = ["h2load", "-D", str(max(1, round(duration))), "-c", str(concurrency), "-m", "1", "-t", "1",
               "-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers",
               f"--log-file={log}", f"http://{target}{GRPC_INFER_PATH}"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    text = output.stdout
    done = _h2load_number(text, r"requests: \d+ total, \d+ started, (\d+) done")
    succeeded = _h2load_number(text, r"(\d+) succeeded")
    data = _h2load_number(text, r"\((\d+)\) data")
    seconds = float(_h2load_match(text, r"finished in ([\d.]+)s"))
    latencies = np.loadtxt(log, usecols=2, ndmin=1) / 1000.0 if log.stat().st_size else np.zeros(0)
    short = succeeded and data / succeeded < expected_bytes
    ok = 0 if short else succeeded
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99]) if latencies.size else (float("nan"),) * 3
    return {"client": "h2load", "requests_per_s": ok / seconds, "errors": done - ok, "requests": done,
            "latency_ms": {"p50": float(p50), "p90": float(p90), "p99": float(p99)}}


def _h2load_match(text: str, pattern: str) -> str:
    import re

    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"h2load gave no {pattern!r}: {text[-400:]}")
    return match.group(1)


def _h2load_number(text: str, pattern: str) -> int:
    return int(_h2load_match(text, pattern))


def run_cell(cell: ProtocolCell, images: np.ndarray, urls: dict[str, str], duration: float, folder: Path,
             model: str) -> dict[str, Any]:
    """One cell against running servers: ``urls`` has "rest" (http://host:port), "graphpipe"
    (http://host:port of the GraphPipe port) and "grpc" (host:port of a V2 gRPC server)."""
    batch = images[:cell.batch_size]
    if cell.protocol == "graphpipe":
        from graphpipe import remote

        url = urls["graphpipe"] + "/"
        _scores_ok(remote.execute(url, tensor(batch, cell.dtype)), len(batch))
        result = http_cell(url, graphpipe_body(batch, cell.dtype), "application/octet-stream", {},
                           cell.concurrency, duration, folder)
    elif cell.protocol == "v2-binary":
        import tritonclient.http as httpclient

        url = f"{urls['rest']}/v2/models/{model}/infer"
        body, json_size = v2_binary_body(batch, cell.dtype)
        answer = _post(url, body, {"Content-Type": "application/octet-stream", V2_HEADER: str(json_size)})
        length = answer[1].get(V2_HEADER)
        parsed = httpclient.InferenceServerClient.parse_response_body(
            answer[0], header_length=int(length) if length else None)
        _scores_ok(parsed.as_numpy("scores"), len(batch))
        result = http_cell(url, body, "application/octet-stream", {V2_HEADER: str(json_size)},
                           cell.concurrency, duration, folder)
    elif cell.protocol == "v2-grpc":
        import grpc

        from webapp.grpc.v2 import open_inference_grpc_pb2 as pb
        from webapp.grpc.v2 import open_inference_grpc_pb2_grpc as pb_grpc

        message = v2_grpc_message(batch, model)
        with grpc.insecure_channel(urls["grpc"]) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            reply = stub.ModelInfer(pb.ModelInferRequest.FromString(message))
        _scores_ok(np.frombuffer(reply.raw_output_contents[0], "<f4").reshape(len(batch), -1), len(batch))
        result = grpc_cell(urls["grpc"], message, cell.concurrency, duration, folder,
                           len(batch) * NUM_CLASSES * 4)
    else:
        from model_tools.client.serving_client import encode_payload

        payload = "npy" if cell.protocol == "tfserving-npy" else "json"
        body, content_type = encode_payload(batch, payload)
        url = f"{urls['rest']}/v1/models/{model}:predict"
        path = folder / f"{cell.key}.body"
        path.write_bytes(body)
        result = _wrk(BODY_SCRIPT, url, path, [content_type], cell.concurrency, duration)
    result["images_per_s"] = result["requests_per_s"] * cell.batch_size
    return result


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    import http.client
    from urllib.parse import urlsplit

    split = urlsplit(url)
    connection = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
    try:
        connection.request("POST", split.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}: {data[:300]!r}")
        return data, dict(response.getheaders())
    finally:
        connection.close()


def compute_floor(model: str, duration: float) -> dict[str, Any]:
    """The engine in-process (``compute_floor.py``): images/s with two calling threads, as two workers."""
    output = subprocess.run(
        [PYTHON, str(REPO / "bench" / "compute_floor.py"), "--engine", "onnxruntime", "--model-name", model,
         "--duration", str(duration)], capture_output=True, text=True, timeout=300, cwd=REPO)
    if output.returncode:
        raise RuntimeError(f"compute_floor.py failed: {output.stderr[-500:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


#: The issue's targets as ratios inside one run (printed beside the figures, never asserted).
TARGETS = {"graphpipe_b128_c8 / compute floor": 0.8, "v2_binary_b128_c8 / compute floor": 0.7}


class ProtocolServers:
    """gunicorn (REST + the GraphPipe port) and a V2 gRPC server on free loopback ports; stopped on exit."""

    def __init__(self, model: str, folder: Path) -> None:
        from model_tools.client.serving_client import encode_payload

        self.model, self.graphpipe_port, self.grpc_port = model, free_port(), free_port()
        env = {"EMNIST_GRAPHPIPE_PORT": str(self.graphpipe_port)}
        app = Server("app onnxruntime", "wsgi:app", "onnxruntime", {"EMNIST_ENABLE_BATCHING": "0"})
        self.http = RunningServer(app, model, folder / "gunicorn.log", env)
        self.grpc_log = open(folder / "grpc.log", "wb")  # noqa: SIM115 - closed in stop()
        grpc_env = {**_environ(), "EMNIST_MODEL_NAME": model, "EMNIST_ENGINE": "onnxruntime",
                    "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0", "EMNIST_ENABLE_BATCHING": "0"}
        self.grpc = subprocess.Popen([PYTHON, str(REPO / "bench" / "v2_grpc_server.py"), "--port",
                                      str(self.grpc_port)], cwd=REPO, env=grpc_env, stdout=self.grpc_log,
                                     stderr=subprocess.STDOUT)
        try:
            body, content_type = encode_payload(np.zeros((1, 28, 28), np.uint8), "json")
            self.http.wait_first_answer(body, content_type, 120)
            self._wait_grpc(120)
        except BaseException:
            self.stop()
            raise

    @property
    def urls(self) -> dict[str, str]:
        return {"rest": f"http://127.0.0.1:{self.http.port}",
                "graphpipe": f"http://127.0.0.1:{self.graphpipe_port}", "grpc": f"127.0.0.1:{self.grpc_port}"}

    def _wait_grpc(self, timeout: float) -> None:
        import grpc

        from webapp.grpc.v2 import open_inference_grpc_pb2 as pb
        from webapp.grpc.v2 import open_inference_grpc_pb2_grpc as pb_grpc

        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            while time.monotonic() < deadline:
                if self.grpc.poll() is not None:
                    raise RuntimeError(f"v2_grpc_server.py exited with {self.grpc.returncode}")
                try:
                    if stub.ServerReady(pb.ServerReadyRequest(), timeout=2).ready:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"the V2 gRPC server was not ready within {timeout:.0f} s")

    def stop(self) -> None:
        self.http.stop()
        if self.grpc.poll() is None:
            self.grpc.terminate()
            try:
                self.grpc.wait(30)
            except subprocess.TimeoutExpired:
                self.grpc.kill()
                self.grpc.wait()
        self.grpc_log.close()


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def median_cell(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over runs (errors and requests are summed)."""
    return {
        "client": results[0]["client"],
        "requests_per_s": statistics.median(r["requests_per_s"] for r in results),
        "images_per_s": statistics.median(r["images_per_s"] for r in results),
        "latency_ms": {k: statistics.median(r["latency_ms"][k] for r in results)
                       for k in ("p50", "p90", "p99")},
        "errors": sum(r["errors"] for r in results),
        "requests": sum(r["requests"] for r in results),
    }


def ratios(cells: dict[str, dict[str, Any]], floor: dict[str, Any]) -> dict[str, float]:
    best = max(v for k, v in floor.items() if k.startswith("b128_") and k.endswith("_images_per_s"))
    out = {}
    for key in ("graphpipe_b128_c8", "graphpipe_uint8_b128_c8", "v2_binary_b128_c8",
                "v2_binary_uint8_b128_c8", "v2_grpc_b128_c8", "tfserving_npy_b128_c8"):
        if key in cells:
            out[f"{key} / compute floor"] = cells[key]["images_per_s"] / best
    if "v2_grpc_b1_c8" in cells and "tfserving_json_b1_c8" in cells:
        out["v2_grpc_b1_c8 / tfserving_json_b1_c8 (REST)"] = (
            cells["v2_grpc_b1_c8"]["requests_per_s"] / cells["tfserving_json_b1_c8"]["requests_per_s"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short run of every cell (1 s each)")
    parser.add_argument("--runs", type=int, default=3, help="runs (medians are reported; default 3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per cell (default 5)")
    parser.add_argument("--cells", default=",".join(CELLS), help=f"comma list of {', '.join(CELLS)}")
    parser.add_argument("--model-name", default="reference", help="model under models/ (default reference)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the images in the request bodies")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.cells.split(",") if k.strip()]
    unknown = [k for k in keys if k not in CELLS]
    if unknown:
        parser.error(f"unknown cell: {', '.join(unknown)}")
    missing = [tool for tool in ("wrk", "h2load") if shutil.which(tool) is None]
    if missing:
        parser.error(f"needs {' and '.join(missing)} (Debian: apt-get install wrk nghttp2-client)")
    if args.quick:
        args.runs, args.duration = 1, 1.0
    from model_tools.data.datasets import load_split

    validation, _ = load_split("validation")
    images = validation[np.random.default_rng(args.seed).choice(len(validation), 128, replace=False)]
    runs: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        servers = ProtocolServers(args.model_name, folder)
        try:
            for key in keys:  # warm-up: each body once through its server
                run_cell(CELLS[key], images, servers.urls, 0.5, folder, args.model_name)
            for _ in range(args.runs):
                runs.append({key: run_cell(CELLS[key], images, servers.urls, args.duration, folder,
                                           args.model_name) for key in keys})
        finally:
            servers.stop()
    cells = {key: median_cell([run[key] for run in runs]) for key in keys}
    floor = compute_floor(args.model_name, 1.0 if args.quick else 2.0)
    figures = {"settings": {"runs": args.runs, "duration_s": args.duration, "model_name": args.model_name},
               "cells": cells, "compute_floor": floor, "ratios": ratios(cells, floor), "targets": TARGETS}
    print("| cell | client | requests/s | images/s | p50 ms | p90 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for key, c in cells.items():
        lat = c["latency_ms"]
        print(f"| {key} | {c['client']} | {c['requests_per_s']:,.0f} | {c['images_per_s']:,.0f} | "
              f"{lat['p50']:.2f} | {lat['p90']:.2f} | {lat['p99']:.2f} | {c['errors']} |")
    for name, value in figures["ratios"].items():
        target = TARGETS.get(name)
        print(f"{name}: {value:.2f}" + (f" (target >= {target})" if target else ""))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures))
    return 0 if all(c["requests"] > 0 and c["errors"] == 0 for c in cells.values()) else 1


if __name__ == "__main__":
    import sys

    sys.exit(main())
