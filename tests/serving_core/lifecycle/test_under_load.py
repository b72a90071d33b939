"""Hot reload under load: publish, break and remove versions while requests keep coming, none may fail."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from serving_core.server_core import ServerCore
from tests.support.load import IMAGES, MAX_SECONDS, SEED_OF_VERSION, LoadRunner
from tests.support.model_versions import (
    RecordingFactory,
    publish,
    write_onnx_version,
    write_savedmodel_version,
)


@pytest.fixture(scope="module")
def onnx_versions(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("onnx_versions")
    return {v: write_onnx_version(root / str(v), seed=seed) for v, seed in SEED_OF_VERSION.items()}


def latest_request(core: ServerCore) -> Callable[[], tuple[int, np.ndarray]]:
    def request() -> tuple[int, np.ndarray]:
        with core.manager.acquire("emnist") as servable:
            return servable.version, servable.engine.predict(IMAGES)

    return request


def test_publish_break_and_remove_versions_under_load(tmp_path, onnx_versions, make_core):
    base = tmp_path / "emnist"
    publish(onnx_versions[1], base, 1)
    factory = RecordingFactory()
    core = make_core(base, factory, FILE_SYSTEM_POLL_SECONDS=0.05)
    with core, LoadRunner(latest_request(core)) as load:
        load.wait_until_every_thread_saw(1)

        # Publish version 2: answers switch to it, never back, and version 1 is unloaded.
        publish(onnx_versions[2], base, 2)
        load.wait_until_every_thread_saw(2)
        for answers in load.answers:
            first_two = answers.index(2)
            assert set(answers[first_two:]) == {2}, "a thread got version 1 after version 2"
        states = {s["version"]: s["state"] for s in core.manager.status("emnist")}
        assert states == {"2": "AVAILABLE", "1": "END"}
        assert factory.made_for(base / "1")[0].closed

        # Publish a corrupt version 3: its error shows, version 2 keeps answering.
        broken = tmp_path / "broken"
        shutil.copytree(onnx_versions[3], broken)
        (broken / "model.onnx").write_bytes((broken / "model.onnx").read_bytes()[:200])  # truncated copy
        publish(broken, base, 3)
        deadline = time.monotonic() + MAX_SECONDS
        while core.manager.status("emnist")[0]["state"] != "END" and time.monotonic() < deadline:
            time.sleep(0.01)
        newest = core.manager.status("emnist")[0]
        assert (newest["version"], newest["state"]) == ("3", "END")
        assert newest["status"]["error_code"] != "OK" and newest["status"]["error_message"]
        before = load.count()
        time.sleep(0.3)
        assert load.count() > before
        assert {answer for answers in load.answers for answer in answers[-5:]} == {2}

        # Remove version 1's folder: nothing changes for the clients.
        shutil.rmtree(base / "1")
        time.sleep(0.2)
    assert load.failures == []
    assert load.count() > 100


def test_all_policy_removed_version_unloads_after_its_requests(tmp_path, onnx_versions, make_core):
    base = tmp_path / "emnist"
    publish(onnx_versions[1], base, 1)
    publish(onnx_versions[2], base, 2)
    factory = RecordingFactory()
    core = make_core(base, factory, MODEL_VERSION_POLICY="all", FILE_SYSTEM_POLL_SECONDS=0.05)

    def request_v1() -> tuple[int, np.ndarray]:
        with core.manager.acquire("emnist", version=1) as servable:
            time.sleep(0.002)  # keep requests in flight while the folder disappears
            return servable.version, servable.engine.predict(IMAGES)

    with core:
        with LoadRunner(request_v1) as load:
            load.wait_until_every_thread_saw(1)
            shutil.rmtree(base / "1")
            deadline = time.monotonic() + MAX_SECONDS
            while core.manager.status("emnist", version=1)[0]["state"] == "AVAILABLE" and (
                time.monotonic() < deadline
            ):
                time.sleep(0.01)
        # Requests that had version 1 finished on it; later ones were refused as TF Serving refuses them.
        assert load.count() > 0
        refused = "ModelNotFoundError: Servable not found for request: Specific(emnist, 1)"
        assert set(load.failures) <= {refused}
        assert core.manager.status("emnist", version=1)[0]["state"] == "END"
        assert factory.made_for(base / "1")[0].closed
        assert factory.made_for(base / "1")[0].calls >= load.count()
        assert core.manager.status("emnist", version=2)[0]["state"] == "AVAILABLE"


@pytest.mark.slow
def test_tensorflow_engine_hot_swap(tmp_path, make_core):
    """The same swap with real SavedModels and the TensorFlow engine (the default in production)."""
    built = tmp_path / "built"
    versions = {v: write_savedmodel_version(built / str(v), seed=SEED_OF_VERSION[v]) for v in (1, 2)}
    base = tmp_path / "emnist"
    publish(versions[1], base, 1)
    factory = RecordingFactory()
    core = make_core(base, factory, ENGINE="tensorflow", FILE_SYSTEM_POLL_SECONDS=0.1)
    with core, LoadRunner(latest_request(core), threads=2) as load:
        assert core.manager.status("emnist")[0]["state"] == "AVAILABLE", core.manager.status("emnist")
        load.wait_until_every_thread_saw(1, then_requests=5)
        publish(versions[2], base, 2)
        load.wait_until_every_thread_saw(2, then_requests=5)
        assert factory.made_for(base / "1")[0].kind == "tensorflow"
        assert factory.made_for(base / "1")[0].closed
    assert load.failures == []


def test_warmup_reader_reads_records_written_by_tensorflow_and_the_stock_protos(tmp_path):
    """The TF-free warmup reader against records of tensorflow_serving.apis.prediction_log_pb2 + tf.io."""
    import tensorflow as tf
    from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_log_pb2

    from serving_core.lifecycle.warmup import WarmupError, decode_warmup_record, read_tfrecords

    images = np.random.default_rng(3).random((3, 784), dtype=np.float32)
    predict = predict_pb2.PredictRequest()
    predict.model_spec.name = "emnist"
    predict.model_spec.signature_name = "predict_images"
    predict.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
    listed = predict_pb2.PredictRequest()  # float_val instead of tensor_content
    listed.inputs["images"].dtype = 1
    listed.inputs["images"].tensor_shape.dim.add(size=1)
    listed.inputs["images"].tensor_shape.dim.add(size=784)
    listed.inputs["images"].float_val.extend(images[0].tolist())
    classify = classification_pb2.ClassificationRequest()
    for row in images:
        classify.input.example_list.examples.add().features.feature["images"].float_list.value.extend(row)
    logs = [
        prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=predict)),
        prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=listed)),
        prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog(request=classify)),
        prediction_log_pb2.PredictionLog(regress_log=prediction_log_pb2.RegressLog()),
    ]
    path = tmp_path / "tf_serving_warmup_requests"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    records = list(read_tfrecords(path))
    assert len(records) == 4
    np.testing.assert_array_equal(decode_warmup_record(records[0]), images)
    np.testing.assert_array_equal(decode_warmup_record(records[1]), images[:1])
    np.testing.assert_array_equal(decode_warmup_record(records[2]), images)
    with pytest.raises(WarmupError, match="Unsupported log_type for warmup: regress_log"):
        decode_warmup_record(records[3])
