"""The cells of the comparison and how one is measured on one server, with run_bench's clients and CPU clock.

REST cells are wrk loads (``bench_loads.run_wrk``) of each server's JSON body; gRPC cells are h2load loads
with gRPC's framing: TF Serving's ``Predict`` (``grpc_load.run_cell``, ours only) and the Open Inference
Protocol's ``ModelInfer`` with ``raw_input_contents`` (``protocol_load.grpc_cell``). Every gRPC cell first
checks one real answer with a stub. A cell's server CPU per request is the CPU time of all the server's
processes during the measured load over the requests it answered (``bench_servers.tree_cpu_seconds``).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc_load
import numpy as np
import protocol_load
from bench_loads import run_wrk
from peer_servers import PeerServer


@dataclass(frozen=True)
class PeerCell:
    key: str
    protocol: str  # rest | v2-grpc | tfs-grpc
    batch_size: int
    concurrency: int
    label: str
    #: The cell a peer is compared on: TF Serving's gRPC (ours only) against the peers' V2 gRPC.
    peer_key: str | None = None

    @property
    def compared_on(self) -> str:
        return self.peer_key or self.key


CELLS = {cell.key: cell for cell in (
    PeerCell("rest_b1_c1", "rest", 1, 1, "REST JSON, 1 image, c=1"),
    PeerCell("rest_b1_c8", "rest", 1, 8, "REST JSON, 1 image, c=8"),
    PeerCell("rest_b128_c8", "rest", 128, 8, "REST JSON, batch 128, c=8"),
    PeerCell("v2grpc_b1_c8", "v2-grpc", 1, 8, "V2 gRPC, 1 image, c=8"),
    PeerCell("v2grpc_b128_c8", "v2-grpc", 128, 8, "V2 gRPC, batch 128, c=8"),
    PeerCell("tfsgrpc_b1_c8", "tfs-grpc", 1, 8, "TF Serving gRPC, 1 image, c=8", "v2grpc_b1_c8"),
    PeerCell("tfsgrpc_b128_c8", "tfs-grpc", 128, 8, "TF Serving gRPC, batch 128, c=8", "v2grpc_b128_c8"),
)}


def serves(server: PeerServer, cell: PeerCell) -> bool:
    if cell.protocol == "rest":
        return True
    return cell.protocol.split("-")[0] in server.grpc


def check_v2_grpc(target: str, message: bytes, expected: np.ndarray) -> None:
    """One ModelInfer with the stock stub: the scores, raw or as typed contents, must be the model's."""
    import grpc

    from webapp.grpc.v2 import open_inference_grpc_pb2 as pb
    from webapp.grpc.v2 import open_inference_grpc_pb2_grpc as pb_grpc

    with grpc.insecure_channel(target) as channel:
        reply = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(pb.ModelInferRequest.FromString(message),
                                                                     timeout=30)
    if reply.raw_output_contents:
        scores = np.frombuffer(reply.raw_output_contents[0], "<f4")
    else:
        scores = np.asarray(reply.outputs[0].contents.fp32_contents, np.float32)
    if scores.size != expected.size or not np.allclose(scores.reshape(expected.shape), expected, atol=1e-4):
        raise RuntimeError(f"{target}: ModelInfer answered other scores than the model's")


def wait_idle(server: PeerServer, timeout: float = 20.0, interval: float = 0.2) -> None:
    """Until the server's processes use under a tenth of a core: a load client that stops leaves requests
    in flight, which the server still works through (a batch-128 backlog can take seconds), and that work
    must not land in the next measured load, this server's or another's."""
    deadline = time.monotonic() + timeout
    before = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(interval)
        now = server.cpu_seconds()
        if now - before < 0.1 * interval:
            return
        before = now


def measure(server: PeerServer, cell: PeerCell, setting: dict[str, Any]) -> dict[str, Any]:
    """Warm the server on the cell (unmeasured), then one measured load: its figures and CPU per request
    (NaN when no request was answered).

    ``setting``: images (uint8 [128,28,28]), expected (their scores), bodies ({(format, batch): path}),
    folder, duration, warmup, model_name.
    """
    images, duration, folder = setting["images"][:cell.batch_size], setting["duration"], setting["folder"]
    if cell.protocol == "rest":
        body = setting["bodies"][(server.rest_format, cell.batch_size)]

        def load(seconds: float) -> dict[str, Any]:
            return run_wrk(server.rest_url, body, "application/json", cell.concurrency, seconds)
    elif cell.protocol == "v2-grpc":
        target = server.grpc["v2"]
        message = protocol_load.v2_grpc_message(images, setting["model_name"])
        check_v2_grpc(target, message, setting["expected"][:cell.batch_size])
        answer_bytes = cell.batch_size * 62 * 4

        def load(seconds: float) -> dict[str, Any]:
            # A folder per load: h2load leaves its request log untouched when nothing was answered.
            with tempfile.TemporaryDirectory(dir=folder) as own:
                return protocol_load.grpc_cell(target, message, cell.concurrency, seconds, Path(own),
                                               answer_bytes)
    else:
        grpc_cell = grpc_load.GrpcCell(cell.key, cell.batch_size, cell.concurrency)

        def load(seconds: float) -> dict[str, Any]:
            return grpc_load.run_cell(server.grpc["tfs"], grpc_cell, seconds, warmup=0,
                                      model=setting["model_name"])
    if setting["warmup"] > 0:
        load(setting["warmup"])
        wait_idle(server)
    cpu_before = server.cpu_seconds()
    figures = load(duration)
    cpu = server.cpu_seconds() - cpu_before
    wait_idle(server)
    figures["images_per_s"] = figures["requests_per_s"] * cell.batch_size
    answered = figures["requests"]
    figures["server_cpu_us_per_request"] = cpu / answered * 1e6 if answered else float("nan")
    return figures
