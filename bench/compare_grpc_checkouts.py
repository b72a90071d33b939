"""Server CPU per gRPC RPC of two checkouts (two commits), measured in alternating rounds.

The gRPC counterpart of ``bench/compare_checkouts.py``: both checkouts' model servers
(``python -m webapp.model_server --rest_api_port 0``, one gRPC process per core as shipped) run at once on
the same engine and model; each case is a fixed number of RPCs sent with h2load in gRPC's framing
(``bench/grpc_load.py``: TF Serving's ``Predict`` with ``tensor_content``, or the Open Inference
Protocol's ``ModelInfer`` with ``raw_input_contents``), round by round, swapping which server goes first.
Whatever else the machine does hits both alike; the ratio of the medians is the change's cost. Each
load's wall time gives its RPCs per second too (noisier: the load client shares the cores).

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/compare_grpc_checkouts.py --before /tmp/before --after . --rounds 6

Each checkout runs its own code (``PYTHONPATH``) with this interpreter.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import grpc_load
from bench.bench_servers import free_port, stop_process_group, tree_cpu_seconds
from emnist_contract.labels import NUM_CLASSES

V2_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"


@dataclass(frozen=True)
class Case:
    """A load: which RPC, how many images per request, how many RPCs on how many connections."""

    name: str
    rpc: str  # "predict" (TF Serving) or "infer" (Open Inference Protocol)
    batch_size: int
    requests: int
    connections: int


CASES = {
    case.name: case
    for case in (
        Case("grpc_b1_c8", "predict", 1, 4000, 8),
        Case("grpc_b128_c8", "predict", 128, 600, 8),
        Case("v2_grpc_b1_c8", "infer", 1, 4000, 8),
        Case("v2_grpc_b128_c8", "infer", 128, 600, 8),
    )
}


class CheckoutGrpcServer:
    """One checkout's model server (REST off), its gRPC workers on a free loopback port."""

    def __init__(self, label: str, checkout: Path, env: dict[str, str], workers: int, log: Path) -> None:
        self.label = label
        #: Per case, the framed size of a successful answer (``answer_sizes``).
        self.answer_bytes: dict[str, int] = {}
        self.target = f"127.0.0.1:{free_port()}"
        self.log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webapp.model_server", "--port", self.target.rsplit(":", 1)[1],
             "--rest_api_port", "0", "--grpc_workers", str(workers)],
            cwd=checkout, env={**env, "PYTHONPATH": str(checkout)}, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, size: int = 1500) -> str:
        self.log.flush()
        return Path(self.log.name).read_bytes()[-size:].decode("utf-8", "replace")

    def stop(self) -> None:
        stop_process_group(self.process)
        self.log.close()


def request_body(case: Case, model: str) -> tuple[bytes, str]:
    """The framed request of ``case`` and the path it is posted to."""
    images = grpc_load.validation_images(case.batch_size)
    if case.rpc == "predict":
        message = grpc_load.predict_request(images, model)
        return grpc_load.grpc_frame(message.SerializeToString()), grpc_load.PREDICT_PATH
    return grpc_load.grpc_frame(v2_infer_request(images, model).SerializeToString()), V2_INFER_PATH


def v2_infer_request(images: np.ndarray, model: str) -> Any:
    """A ``ModelInferRequest`` with the images as ``raw_input_contents`` (what tritonclient.grpc sends)."""
    from webapp.grpc.v2 import open_inference_grpc_pb2 as pb

    request = pb.ModelInferRequest(model_name=model)
    request.inputs.add(name="images", datatype="FP32", shape=list(images.shape))
    request.raw_input_contents.append(np.ascontiguousarray(images, "<f4").tobytes())
    return request


def check_v2_answer(target: str, request: Any) -> int:
    """One ModelInfer with the stock stub: the framed size of a successful answer."""
    import grpc

    from webapp.grpc.v2 import open_inference_grpc_pb2_grpc as pb_grpc

    with grpc.insecure_channel(target) as channel:
        response = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30.0)
    count = request.inputs[0].shape[0]
    if len(response.raw_output_contents[0]) != count * NUM_CLASSES * 4:
        raise RuntimeError(f"the server answered {len(response.raw_output_contents[0])} bytes of scores")
    return len(grpc_load.grpc_frame(response.SerializeToString()))


def load(server: CheckoutGrpcServer, case: Case, body: Path, path: str) -> tuple[float, float]:
    """Server CPU microseconds per RPC and RPCs per second of one load of ``case``.

    h2load sees HTTP statuses only; a gRPC error is a 200 without a message, so the DATA it received must
    amount to every RPC's answer (the answers of one case have one size, checked by ``answer_bytes``).
    """
    before = tree_cpu_seconds(server.process.pid)
    started = time.perf_counter()
    result = subprocess.run(
        ["h2load", "-n", str(case.requests), "-c", str(case.connections), "--max-concurrent-streams=1",
         "--threads=1", f"--data={body}", "--header=content-type: application/grpc",
         "--header=te: trailers", f"http://{server.target}{path}"],
        capture_output=True, text=True, check=False, timeout=600)
    seconds = time.perf_counter() - started
    used = tree_cpu_seconds(server.process.pid) - before
    expected = f"{case.requests} succeeded, 0 failed, 0 errored, 0 timeout"
    if expected not in result.stdout:
        raise RuntimeError(f"{server.label} {case.name}: not every RPC was answered:\n{result.stdout[-600:]}")
    data = int(re.search(r"\(([0-9]+)\) data", result.stdout).group(1))
    if data < case.requests * server.answer_bytes[case.name]:
        raise RuntimeError(f"{server.label} {case.name}: some RPCs answered an error status")
    return used / case.requests * 1e6, case.requests / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the checkout to compare against")
    parser.add_argument("--after", type=Path, default=Path("."), help="the changed checkout (default: .)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds per case (default 6)")
    parser.add_argument("--engine", default="onnxruntime", help="EMNIST_ENGINE of both servers")
    parser.add_argument("--workers", type=int, default=0, help="gRPC processes of each (default: one a core)")
    parser.add_argument("--model", default="reference", help="model served from models/")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment of the after server only (e.g. a setting under test)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests, 2 rounds (smoke run)")
    args = parser.parse_args(argv)
    cases = [CASES[name] for name in args.cases.split(",")]
    if args.quick:
        cases = [replace(case, requests=max(case.requests // 10, case.connections)) for case in cases]
        args.rounds = min(args.rounds, 2)
    workers = args.workers or os.cpu_count() or 1
    env = {**os.environ, "EMNIST_ENGINE": args.engine, "EMNIST_MODEL_NAME": args.model,
           "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0", "EMNIST_ENABLE_BATCHING": "0",
           "EMNIST_GRPC_GRACE_SECONDS": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}
    after_env = dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory(prefix="compare-grpc-") as folder:
        servers = [CheckoutGrpcServer(label, checkout.resolve(), {**env, **extra}, workers,
                                      Path(folder) / f"{label}.log")
                   for label, checkout, extra in (
                       ("before", args.before, {}), ("after", args.after, after_env))]
        try:
            bodies = {}
            for case in cases:
                framed, path = request_body(case, args.model)
                body = Path(folder) / f"{case.name}.bin"
                body.write_bytes(framed)
                bodies[case.name] = (body, path)
            for server in servers:
                server.answer_bytes = answer_sizes(server, cases, args.model)
            changed = f" after: {' '.join(args.env)}" if args.env else ""
            print(f"{os.cpu_count()} cores, {workers} gRPC process(es) each, engine {args.engine}, model "
                  f"{args.model}{changed}; server CPU per RPC (us) and RPCs/s, medians of {args.rounds} "
                  "alternating rounds")
            print("| case | before us/RPC (range) | after us/RPC (range) | after/before | before RPC/s | "
                  "after RPC/s |")
            print("|---|---|---|---|---|---|")
            for case in cases:
                for server in servers:  # one unmeasured load each
                    load(server, case, *bodies[case.name])
                cpu: dict[str, list[float]] = {server.label: [] for server in servers}
                rate: dict[str, list[float]] = {server.label: [] for server in servers}
                for round_ in range(args.rounds):
                    for server in servers if round_ % 2 == 0 else servers[::-1]:
                        used, per_second = load(server, case, *bodies[case.name])
                        cpu[server.label].append(used)
                        rate[server.label].append(per_second)
                before, after = (statistics.median(cpu[label]) for label in ("before", "after"))
                low, high = min(cpu["before"]), max(cpu["before"])
                print(f"| {case.name} | {before:,.0f} ({low:,.0f}-{high:,.0f}) | "
                      f"{after:,.0f} ({min(cpu['after']):,.0f}-{max(cpu['after']):,.0f}) | "
                      f"{after / before:.2f} | {statistics.median(rate['before']):,.0f} | "
                      f"{statistics.median(rate['after']):,.0f} |", flush=True)
        finally:
            for server in servers:
                server.stop()
    return 0


def answer_sizes(server: CheckoutGrpcServer, cases: list[Case], model: str) -> dict[str, int]:
    """Per case, the framed size of a successful answer (asked with the stock stub once the server
    answers); what ``load`` checks the DATA against."""
    deadline = time.monotonic() + 240
    sizes: dict[str, int] = {}
    for case in cases:
        images = grpc_load.validation_images(case.batch_size)
        while case.name not in sizes:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.label}: the model server exited: {server.log_tail()}")
            try:
                if case.rpc == "predict":
                    sizes[case.name] = grpc_load.check_answer(server.target,
                                                              grpc_load.predict_request(images, model))
                else:
                    sizes[case.name] = check_v2_answer(server.target, v2_infer_request(images, model))
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server.label}: does not answer\n{server.log_tail()}") from None
                time.sleep(0.3)
    return sizes


if __name__ == "__main__":
    sys.exit(main())
