"""The front end over two model-server replicas started as separate processes: under a bounded load, one
replica stopped (SIGTERM) and one killed (SIGKILL) lose no request that the other could serve."""

from __future__ import annotations

import time

import numpy as np
import orjson
import pytest

from tests.support.grpc_servers import ModelServerProcess, free_port
from tests.support.load import MAX_SECONDS, ThreadedLoad

pytestmark = pytest.mark.slow
BODY = {"instances": np.random.default_rng(2).random((2, 784)).round(4).tolist()}
THREADS = 4


class Load(ThreadedLoad):
    """Threads posting /predict through the front end until stopped; every answer's model server."""

    def __init__(self, app) -> None:
        self.app = app
        self.engines: list[tuple[float, str]] = []
        self.failures: list[str] = []
        super().__init__(THREADS)

    def _run(self, index: int) -> None:
        client = self.app.test_client()
        deadline = time.monotonic() + MAX_SECONDS
        while not self._stop.is_set() and time.monotonic() < deadline:
            response = client.post("/predict", json=BODY)
            if response.status_code != 200:
                self.failures.append(f"{response.status_code} {response.data[:300]!r}")
                continue
            self.engines.append((time.monotonic(), orjson.loads(response.data)["model_spec"]["engine"]))

    def served_by(self, last: int) -> set[str]:
        """The model servers that answered the last ``last`` requests."""
        return {engine for _, engine in self.engines[-last:]}

    def wait_for(self, count: int) -> None:
        target = len(self.engines) + count
        deadline = time.monotonic() + MAX_SECONDS
        while len(self.engines) < target:
            assert time.monotonic() < deadline and not self.failures, self.failures[:3]
            time.sleep(0.01)


def start_replicas(tmp_path, count: int) -> list[ModelServerProcess]:
    """``count`` model servers (one gRPC worker each), started together."""
    replicas = [ModelServerProcess(tmp_path / f"replica-{i}.log", free_port()) for i in range(count)]
    for replica in replicas:
        replica.wait_serving()
    return replicas


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_losing_one_of_two_replicas_under_load_loses_no_request(tmp_path, front_end, how):
    replicas = start_replicas(tmp_path, 2)
    try:
        gone, survivor = replicas
        urls = [f"grpc://{replica.target}" for replica in replicas]
        app = front_end(*urls)
        with Load(app) as load:
            load.wait_for(40)
            assert load.served_by(40) == set(urls)  # client-side balancing: both replicas take requests
            if how == "SIGKILL":
                gone.kill()  # requests in flight on it fail, and are retried on the other
            else:
                assert gone.terminate() == 0  # requests in flight finish; new ones go to the other
            load.wait_for(200)
        assert load.failures == []
        assert load.served_by(100) == {f"grpc://{survivor.target}"}
        assert app.test_client().get("/readyz").status_code == 200
        survivor.kill()
        response = app.test_client().post("/predict", json=BODY)
        assert response.status_code == 503, response.data
        assert app.test_client().get("/readyz").status_code == 503
    finally:
        for replica in replicas:
            replica.kill()
