"""The metrics module: what a tally flushes equals what prometheus_client would have counted, TF Serving's
names and buckets, model states, and the multiprocess files summed over processes (a dead one's live
gauges dropped, its counts kept)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from serving_core.errors import InvalidArgumentError
from serving_core.metrics import BATCH_SIZE_BUCKETS, LATENCY_MICROS_BUCKETS, QUEUING_MICROS_BUCKETS, Metrics
from serving_core.observation import RequestRecord
from serving_core.payloads.limits import ServerLimits
from serving_core.request import InferenceRequest, ModelSpec
from tests.support.metrics_text import samples, total
from tests.support.paths import REPO


def test_tf_serving_bucket_boundaries():
    assert len(LATENCY_MICROS_BUCKETS) == 33 and LATENCY_MICROS_BUCKETS[:3] == pytest.approx((10, 18, 32.4))
    assert len(QUEUING_MICROS_BUCKETS) == 52 and QUEUING_MICROS_BUCKETS[:2] == pytest.approx((100, 120))
    assert len(BATCH_SIZE_BUCKETS) == 15 and BATCH_SIZE_BUCKETS[:2] == pytest.approx((2 / 3, 4 / 3))


def record(images: int, error: Exception | None = None) -> RequestRecord:
    found = RequestRecord("id")
    found.protocol, found.route = "tfserving-rest", "/v1/models/<model:name>:predict"
    budget = ServerLimits(max_instances=8, max_image_pixels=0).budget()
    found.inference = InferenceRequest(ModelSpec("emnist"), np.zeros((images, 784), np.float32), budget,
                                       found.protocol, found.route, "id", images=images)
    found.error = error
    return found


def test_a_flushed_tally_counts_what_direct_observations_would():
    registry = CollectorRegistry()
    recorder = Metrics(registry)
    for images, seconds in ((1, 0.00001), (3, 0.000018), (3, 0.5)):  # 10 us and 18 us: bucket boundaries
        recorder.request_done(record(images), "200", "OK", seconds)
    refused = InvalidArgumentError("too many", limit="MAX_INSTANCES")
    recorder.request_done(record(0, refused), "400", "INVALID_ARGUMENT", 0.001)
    assert total(samples(generate_latest(registry)), "emnist_requests_total") == 0  # not flushed yet
    recorder.tally.flush()
    found = samples(generate_latest(registry))
    assert total(found, "emnist_requests_total", code="200") == 3
    assert total(found, "emnist_refusals_total", limit="MAX_INSTANCES") == 1
    latency = ":tensorflow:serving:request_latency_bucket"
    assert total(found, latency, le="10.0") == 1  # a value on a bound is in that bucket (le)
    assert total(found, latency, le="18.0") == 2
    assert total(found, latency, le="+Inf") == 4
    assert total(found, ":tensorflow:serving:request_latency_sum") == pytest.approx(10 + 18 + 500_000 + 1000)
    assert total(found, "emnist_request_images_sum") == 7
    assert total(found, "emnist_request_images_bucket", le="4.0") == 3


def test_model_states_go_back_to_zero_when_no_longer_held():
    registry = CollectorRegistry()
    recorder = Metrics(registry)
    recorder.model_states({("emnist", "1", "LOADING"): 1})
    recorder.model_states({("emnist", "1", "AVAILABLE"): 1, ("emnist", "2", "LOADING"): 1})
    found = samples(generate_latest(registry))
    assert total(found, "emnist_model_version_state", version="1", state="LOADING") == 0
    assert total(found, "emnist_model_version_state", version="1", state="AVAILABLE") == 1
    assert total(found, "emnist_model_version_state", version="2", state="LOADING") == 1


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from serving_core import metrics
    from serving_core.observation import RequestRecord
    from serving_core.payloads.limits import ServerLimits
    from serving_core.request import InferenceRequest, ModelSpec

    recorder = metrics.enable()
    recorder.model_states({("emnist", "1", "AVAILABLE"): 1})
    for _ in range(int(sys.argv[1])):
        found = RequestRecord("id")
        found.protocol, found.route = "tfserving-grpc", "Predict"
        budget = ServerLimits(max_instances=8, max_image_pixels=0).budget()
        found.inference = InferenceRequest(ModelSpec("emnist"), np.zeros((1, 784), np.float32), budget,
                                           found.protocol, found.route, "id", images=1)
        recorder.request_done(found, "OK", "OK", 0.001)
    print(__import__("os").getpid())
""")  # the tally reaches the files at exit


def run_child(code: str, folder: Path, *args: str) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.strip()


def test_processes_are_summed_and_a_dead_ones_live_gauges_dropped(tmp_path):
    first = run_child(CHILD, tmp_path, "5")
    run_child(CHILD, tmp_path, "7")
    scrape = "from serving_core import metrics; print(metrics.exposition().decode())"
    found = samples(run_child(scrape, tmp_path))
    assert total(found, ":tensorflow:serving:request_count", model_name="emnist", status="OK") == 12
    assert total(found, "emnist_requests_total", protocol="tfserving-grpc", route="Predict") == 12
    assert total(found, "emnist_model_version_state", state="AVAILABLE") == 2
    mark = f"from serving_core import metrics; metrics.mark_process_dead({first})"
    run_child(mark, tmp_path)
    found = samples(run_child(scrape, tmp_path))
    assert total(found, "emnist_model_version_state", state="AVAILABLE") == 1  # the live one's only
    assert total(found, ":tensorflow:serving:request_count", status="OK") == 12  # counts stay


def test_the_batcher_records_tf_servings_batching_histograms():
    from concurrent.futures import ThreadPoolExecutor

    from serving_core import metrics
    from serving_core.batching import BatchingOptions, DynamicBatcher

    metrics.enable()

    def counted() -> dict:
        found = samples(metrics.exposition())
        return {name: total(found, name, **labels) for name, labels in (
            (":tensorflow:serving:batching:input_batch_size_count", {"model_name": "batched"}),
            (":tensorflow:serving:batching:input_batch_size_sum", {"model_name": "batched"}),
            (":tensorflow:serving:batching:processed_batch_size_sum", {"model_name": "batched"}),
            (":tensorflow:serving:batching_session:queuing_latency_count", {"thread_pool_name": "batched"}))}

    options = BatchingOptions(max_batch_size=8, batch_timeout_micros=0, max_enqueued_batches=4,
                              num_batch_threads=1)
    batcher = DynamicBatcher(lambda images: np.zeros((len(images), 62), np.float32), options, "batched")
    before = counted()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda count: batcher.predict(np.zeros((count, 784), np.float32)), (1, 2, 3, 1)))
    grew = {name: value - before[name] for name, value in counted().items()}
    assert grew[":tensorflow:serving:batching:input_batch_size_count"] == 4
    assert grew[":tensorflow:serving:batching:input_batch_size_sum"] == 7
    assert grew[":tensorflow:serving:batching:processed_batch_size_sum"] == 7  # every image ran once
    assert grew[":tensorflow:serving:batching_session:queuing_latency_count"] == 4


def test_the_servers_folder_is_made_and_killed_servers_folders_removed(tmp_path, monkeypatch):
    from serving_core import metrics

    monkeypatch.setattr(metrics, "SHARED_MEMORY", str(tmp_path))
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    orphan, alive = tmp_path / f"emnist-metrics-{gone}-x1", tmp_path / f"emnist-metrics-{os.getpid()}-x2"
    for folder in (orphan, alive):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"")
    made = metrics.create_multiprocess_dir()
    assert made is not None and made.parent == tmp_path
    assert made.name.startswith(f"emnist-metrics-{os.getpid()}-")
    assert os.environ[metrics.MULTIPROC_ENV] == str(made)
    assert not orphan.exists() and alive.exists()
    assert metrics.create_multiprocess_dir() is None  # set already: the launcher's, not gunicorn's to make
    metrics.remove_multiprocess_dir(made)
    assert not made.exists() and metrics.MULTIPROC_ENV not in os.environ
