"""The gRPC floor: grpcio's own server with a no-op PredictionService, loaded like the model server.

The servicer answers every Predict with a fixed ``PredictResponse`` of the request's batch size (scores of
zeros) after parsing the request, and does nothing else, so its requests/s and CPU per RPC are the most
grpcio's Python server gives on this machine: what the model server's gRPC figures stand on, as the no-op
Flask app (``bench/noop_app.py``) is for REST. One server process (the model server runs one per core),
``grpc.server`` with a thread pool of ``EMNIST_GRPC_THREADS`` threads as shipped, or ``--aio`` for
grpcio's asyncio server; the load is h2load with gRPC's framing (``bench/grpc_load.py``).

    python bench/grpc_floor.py                  # 1 image c=1 and c=8, batch 128 c=8; 5 s per cell
    python bench/grpc_floor.py --aio --quick    # the asyncio server, one short cell

Prints one line per cell and, last, the figures as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from concurrent import futures

import grpc
import grpc_load  # bench/ is the script's folder
from bench_servers import free_port, tree_cpu_seconds

THREADS = 4  # EMNIST_GRPC_THREADS's default


def _answers() -> dict[int, object]:
    import numpy as np

    from tf_serving_protos.tensorflow_serving.apis import predict_pb2
    from webapp.grpc.tensors import array_to_tensor

    answers = {}
    for size in (1, 128):
        answer = predict_pb2.PredictResponse()
        answer.model_spec.name = grpc_load.MODEL_NAME
        answer.model_spec.version.value = 1
        array_to_tensor(np.zeros((size, 62), np.float32), answer.outputs["scores"])
        answers[size] = answer
    return answers


def serve(port: int, use_aio: bool) -> None:
    """Serve the no-op PredictionService on 127.0.0.1:``port`` until killed; prints ``ready``."""
    from tf_serving_protos.tensorflow_serving.apis import prediction_service_pb2_grpc

    answers = _answers()

    def answer(request: object) -> object:
        return answers[request.inputs["images"].tensor_shape.dim[0].size]

    if not use_aio:
        class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request, context):  # noqa: N802 - the generated servicer's name
                return answer(request)

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=THREADS))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        print("ready", flush=True)
        server.wait_for_termination()
        return

    class AioServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        async def Predict(self, request, context):  # noqa: N802
            return answer(request)

    async def run() -> None:
        server = grpc.aio.server()
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(AioServicer(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        print("ready", flush=True)
        await server.wait_for_termination()

    asyncio.run(run())


def measure(use_aio: bool, cells: list[str], duration: float) -> dict[str, dict[str, float]]:
    """Start the floor server in its own process and load it cell by cell; the figures per cell."""
    port = free_port()
    command = [sys.executable, __file__, "--serve", str(port), *(["--aio"] if use_aio else [])]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("the gRPC floor server did not start")
        target, figures = f"127.0.0.1:{port}", {}
        for key in cells:
            cell = grpc_load.CELLS[key]
            grpc_load.run_cell(target, cell, min(1.0, duration), warmup=0)  # warm-up, unmeasured
            started = tree_cpu_seconds(server.pid)
            result = grpc_load.run_cell(target, cell, duration, warmup=0)
            cpu_us = (tree_cpu_seconds(server.pid) - started) / max(result["requests"], 1) * 1e6
            figures[key] = {"requests_per_s": round(result["requests_per_s"], 1),
                            "images_per_s": round(result["images_per_s"], 1),
                            "p50_ms": result["latency_ms"]["p50"], "errors": result["errors"],
                            "requests": result["requests"], "server_cpu_us_per_rpc": round(cpu_us)}
            print(f"{'grpc.aio' if use_aio else 'grpc.server'} {key:<13} {result['requests_per_s']:8.0f} "
                  f"req/s  p50 {result['latency_ms']['p50']:.2f} ms  errors {result['errors']}  server CPU "
                  f"{cpu_us:.0f} us/RPC", flush=True)
        return figures
    finally:
        server.kill()
        server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aio", action="store_true", help="grpcio's asyncio server instead of grpc.server")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per cell")
    parser.add_argument("--quick", action="store_true", help="one cell (1 image c=8) of 1 s")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.aio)
        return 0
    cells = ["grpc_b1_c8"] if args.quick else ["grpc_b1_c1", "grpc_b1_c8", "grpc_b128_c8"]
    duration = 1.0 if args.quick else args.duration
    started = time.monotonic()
    figures = measure(args.aio, cells, duration)
    print(json.dumps({"server": "grpc.aio" if args.aio else "grpc.server", "threads": THREADS,
                      "seconds": round(time.monotonic() - started, 1), "cells": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
