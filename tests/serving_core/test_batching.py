"""The dynamic batcher: every caller gets its own rows back, batches form, the queue bound holds."""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from serving_core.batching import BatcherCache, BatchingOptions, BatchQueueFullError, DynamicBatcher
from serving_core.errors import Code


def options(**overrides: int) -> BatchingOptions:
    """The server's default batching parameters with ``overrides``."""
    values = {"max_batch_size": 32, "batch_timeout_micros": 0, "max_enqueued_batches": 64,
              "num_batch_threads": 1}
    values.update(overrides)
    return BatchingOptions(**values)


class SlowModel:
    """A deterministic 'model' (scores = row sums and the first pixel) that takes a fixed time per call."""

    def __init__(self, seconds: float = 0.002) -> None:
        self.seconds = seconds
        self.batch_sizes: list[int] = []
        self.lock = threading.Lock()

    def predict(self, images: np.ndarray) -> np.ndarray:
        with self.lock:
            self.batch_sizes.append(len(images))
        time.sleep(self.seconds)
        return np.stack([images.sum(axis=1), images[:, 0]], axis=1)


def images_for(index: int, count: int = 1) -> np.ndarray:
    images = np.zeros((count, 784), dtype=np.float32)
    images[:, 0] = index
    images[:, 1] = np.arange(count)
    return images


def test_concurrent_requests_get_their_own_rows_and_are_batched() -> None:
    model = SlowModel()
    batcher = DynamicBatcher(model.predict, options(max_batch_size=16))

    def call(index: int) -> tuple[int, np.ndarray]:
        count = 1 + index % 3
        return index, batcher.predict(images_for(index, count))

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, range(200)))
    for index, scores in answers:
        count = 1 + index % 3
        assert scores.shape == (count, 2)
        np.testing.assert_array_equal(scores[:, 1], np.full(count, index, dtype=np.float32))
        np.testing.assert_array_equal(scores[:, 0], index + np.arange(count, dtype=np.float32))
    assert sum(model.batch_sizes) == sum(1 + i % 3 for i in range(200))
    assert max(model.batch_sizes) <= 16
    # 8 callers against a 2 ms model: requests do share calls.
    assert sum(model.batch_sizes) / len(model.batch_sizes) > 2


def test_large_requests_bypass_the_queue() -> None:
    model = SlowModel(0)
    batcher = DynamicBatcher(model.predict, options(max_batch_size=4))
    scores = batcher.predict(images_for(7, 10))
    assert scores.shape == (10, 2)
    assert model.batch_sizes == [10]
    assert batcher.batches_run == 0


def test_timeout_waits_to_fill_a_batch() -> None:
    model = SlowModel(0)
    batcher = DynamicBatcher(model.predict, options(max_batch_size=4, batch_timeout_micros=3_000_000))
    with ThreadPoolExecutor(max_workers=4) as pool:
        started = time.monotonic()
        results = list(pool.map(lambda i: batcher.predict(images_for(i)), range(4)))
        elapsed = time.monotonic() - started
    assert [int(r[0, 1]) for r in results] == [0, 1, 2, 3]
    assert model.batch_sizes == [4]  # the leader held its batch until the other three arrived
    assert elapsed < 2.0  # ... and ran it as soon as it was full, not at the 3 s timeout


def test_model_errors_reach_every_caller_of_the_batch() -> None:
    def failing(images: np.ndarray) -> np.ndarray:
        time.sleep(0.001)
        raise RuntimeError("model exploded")

    batcher = DynamicBatcher(failing, options(max_batch_size=8))
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(batcher.predict, images_for(i)) for i in range(12)]
    for future in futures:
        with pytest.raises(RuntimeError, match="model exploded"):
            future.result()
    # The batcher is still usable afterwards (no leader left stuck).
    batcher._predict = SlowModel(0).predict
    assert batcher.predict(images_for(3)).shape == (1, 2)


def test_queue_bound_refuses_at_once() -> None:
    release = threading.Event()

    def blocked(images: np.ndarray) -> np.ndarray:
        release.wait(5)
        return images[:, :2]

    batcher = DynamicBatcher(blocked, options(max_batch_size=2, max_enqueued_batches=1))
    with ThreadPoolExecutor(max_workers=4) as pool:
        running = pool.submit(batcher.predict, images_for(0))  # leader, blocked inside the model
        time.sleep(0.05)
        queued = [pool.submit(batcher.predict, images_for(i)) for i in (1, 2)]  # fills the queue (2)
        time.sleep(0.05)
        with pytest.raises(BatchQueueFullError, match="queue .* is full") as refused:
            batcher.predict(images_for(3))
        assert (refused.value.code, refused.value.http_status) == (Code.RESOURCE_EXHAUSTED, 503)
        release.set()
        assert running.result().shape == (1, 2)
        assert [f.result()[0, 0] for f in queued] == [1, 2]


def test_wrong_shapes_are_refused_before_queueing() -> None:
    batcher = DynamicBatcher(SlowModel(0).predict, options())
    with pytest.raises(ValueError, match="shape"):
        batcher.predict(np.zeros((2, 28, 28), dtype=np.float32))


def test_options_validate() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        options(max_batch_size=0)
    with pytest.raises(ValueError, match="batch_timeout_micros"):
        options(batch_timeout_micros=-1)
    assert options(max_batch_size=8, max_enqueued_batches=3).max_enqueued_images == 24


def test_cache_keeps_one_batcher_per_engine_and_lets_engines_go() -> None:
    cache = BatcherCache(options(max_batch_size=4))
    engine = SlowModel(0)
    assert cache.batcher_for(engine) is cache.batcher_for(engine)
    assert cache.predict(engine, images_for(5)).shape == (1, 2)
    del engine
    gc.collect()
    assert len(cache._batchers) == 0  # an unloaded model version is not kept alive by its batcher
