"""Clients that keep a server busy while it stops, and count what happened to each request.

A REST client keeps one keep-alive connection (``http.client``) and opens another when an answer says
``Connection: close``; a gRPC client keeps one channel (TF Serving's stock ``PredictionServiceStub``). Each
sends one request after another until the server refuses a new connection, or until its time is up. A
request is *accepted* once it was sent on a connection the server had taken; it must then be answered
200 / OK. The only other outcome allowed is a refused new connection (``ConnectionRefusedError``, or gRPC's
UNAVAILABLE for a connection that could not be made), which ends that client.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field

import grpc
import numpy as np
import orjson

from tests.support.paths import SERVED_MODEL

IMAGES = np.random.default_rng(11).random((1, 784), dtype=np.float32)


@dataclass
class Tally:
    """What one kind of client saw: answers, refusals, failures (with the time since ``started``)."""

    answered: int = 0
    refused: int = 0
    closed_by_server: int = 0
    failures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(f"{time.monotonic() - self.started:.3f} s: {what}")


def rest_client(port: int, tally: Tally, until: float) -> None:
    body = orjson.dumps({"instances": IMAGES.tolist()})
    headers = {"Content-Type": "application/json"}
    connection = None
    while time.monotonic() < until:
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                connection.connect()
            except ConnectionRefusedError:
                tally.count("refused")
                return
        try:
            connection.request("POST", f"/v1/models/{SERVED_MODEL}:predict", body, headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            tally.fail(repr(exc))
            connection.close()
            connection = None
            continue
        if response.status != 200:
            tally.fail(f"HTTP {response.status}")
        else:
            tally.count("answered")
        if response.will_close:
            tally.count("closed_by_server")
            connection.close()
            connection = None


def _refused(error: grpc.RpcError) -> bool:
    """UNAVAILABLE because no connection could be made (the RPC never reached a server)."""
    text = f"{error.details()} {getattr(error, 'debug_error_string', lambda: '')()}"
    return error.code() == grpc.StatusCode.UNAVAILABLE and (
        "Connection refused" in text or "failed to connect" in text)


def grpc_client(target: str, tally: Tally, until: float) -> None:
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from webapp.grpc.tensors import array_to_tensor

    request = predict_pb2.PredictRequest()
    request.model_spec.name = SERVED_MODEL
    request.inputs["images"].CopyFrom(array_to_tensor(IMAGES))
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        while time.monotonic() < until:
            try:
                stub.Predict(request, timeout=60)
            except grpc.RpcError as error:
                if _refused(error):
                    tally.count("refused")
                    return
                tally.fail(f"{error.code()}: {error.details()}")
                continue
            tally.count("answered")


def start_clients(rest_port: int, grpc_target: str, each: int, seconds: float) -> tuple[Tally, Tally,
                                                                                          list[threading.Thread]]:
    """``each`` REST and ``each`` gRPC clients, for at most ``seconds``."""
    rest, rpc = Tally(), Tally()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=rest_client, args=(rest_port, rest, until)) for _ in range(each)]
    threads += [threading.Thread(target=grpc_client, args=(grpc_target, rpc, until)) for _ in range(each)]
    for thread in threads:
        thread.start()
    return rest, rpc, threads
