"""The manager and its watcher: loading, acquiring, status, labels, policies, failures, unloading, SIGHUP."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from emnist_contract.layout import WARMUP_FILE
from serving_core.errors import InvalidArgumentError, ModelNotFoundError
from serving_core.lifecycle.manager import VersionLabelError
from serving_core.lifecycle.warmup import WarmupError, decode_warmup_record, read_tfrecords
from serving_core.server_core import ServerCore
from tests.support.model_versions import (
    expected_scores,
    publish,
    warmup_record,
    write_onnx_version,
    write_tfrecords,
)

IMAGES = np.random.default_rng(0).random((3, 784), dtype=np.float32)


@pytest.fixture(scope="module")
def built_versions(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Version folders 1..4, each a different ONNX model (seed = version), built once."""
    root = tmp_path_factory.mktemp("built")
    return {v: write_onnx_version(root / str(v), seed=v) for v in (1, 2, 3, 4)}


def states(core: ServerCore, name: str = "emnist") -> dict[int, str]:
    return {int(s["version"]): s["state"] for s in core.manager.status(name)}


def scores_of(core: ServerCore, **request: object) -> tuple[int, np.ndarray]:
    with core.manager.acquire("emnist", **request) as servable:
        return servable.version, servable.engine.predict(IMAGES)


def test_serves_latest_version_with_tf_serving_status(tmp_path, built_versions, factory, make_core):
    base = tmp_path / "emnist"
    publish(built_versions[1], base, 1)
    publish(built_versions[2], base, 2)
    with make_core(base, factory) as core:
        assert core.manager.ready()
        # Warmup records were replayed before AVAILABLE (2 records + the sanity check).
        assert factory.made_for(base / "2")[0].calls == 3
        version, scores = scores_of(core)
        assert version == 2
        np.testing.assert_allclose(scores, expected_scores(2, IMAGES), atol=1e-5)
        assert core.manager.status("emnist") == [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
        assert factory.made_for(base / "1") == []  # the latest policy never loads version 1


def test_not_found_messages_are_tf_servings(tmp_path, built_versions, factory, make_core):
    base = tmp_path / "emnist"
    publish(built_versions[1], base, 1)
    with make_core(base, factory) as core:
        specific = r"^Servable not found for request: Specific\(emnist, 7\)$"
        with pytest.raises(ModelNotFoundError, match=specific):
            scores_of(core, version=7)
        with pytest.raises(ModelNotFoundError, match=r"^Servable not found for request: Latest\(other\)$"):
            core.manager.acquire("other").__enter__()
        with pytest.raises(ModelNotFoundError, match="^Could not find version 7 of model emnist$"):
            core.manager.status("emnist", version=7)
        with pytest.raises(ModelNotFoundError, match="^Could not find any versions of model other$"):
            core.manager.status("other")
        with pytest.raises(VersionLabelError, match="^Unrecognized servable version label: canary$") as info:
            scores_of(core, label="canary")
        assert info.value.http_status == 400
        assert ModelNotFoundError("x").http_status == 404


def test_empty_base_path_is_not_ready_until_a_version_arrives(tmp_path, built_versions, factory, make_core):
    base = tmp_path / "emnist"
    with make_core(base, factory) as core:
        assert not core.manager.ready()
        with pytest.raises(ModelNotFoundError, match=r"Latest\(emnist\)"):
            scores_of(core)
        publish(built_versions[1], base, 1)
        core.watcher.poll_once()
        assert core.manager.ready()
        assert scores_of(core)[0] == 1


def test_new_version_supersedes_after_in_flight_request_finishes(
    tmp_path, built_versions, factory, make_core
):
    base = tmp_path / "emnist"
    publish(built_versions[1], base, 1)
    with make_core(base, factory) as core:
        with core.manager.acquire("emnist") as pinned:
            publish(built_versions[2], base, 2)
            core.watcher.poll_once()
            # New requests get version 2; the request in flight keeps version 1, which waits to unload.
            assert scores_of(core)[0] == 2
            assert states(core) == {2: "AVAILABLE", 1: "UNLOADING"}
            np.testing.assert_allclose(pinned.engine.predict(IMAGES), expected_scores(1, IMAGES), atol=1e-5)
            assert not factory.made_for(base / "1")[0].closed
        assert states(core) == {2: "AVAILABLE", 1: "END"}
        assert factory.made_for(base / "1")[0].closed


def test_unlistable_base_path_keeps_serving(tmp_path, built_versions, factory, make_core):
    base = tmp_path / "emnist"
    publish(built_versions[1], base, 1)
    with make_core(base, factory) as core:
        moved = base.rename(tmp_path / "elsewhere")  # e.g. an unmounted volume
        core.watcher.poll_once()
        assert states(core) == {1: "AVAILABLE"}
        assert scores_of(core)[0] == 1
        moved.rename(base)


def test_dot_prefixed_and_non_numeric_folders_are_ignored(tmp_path, built_versions, factory, make_core):
    base = tmp_path / "emnist"
    publish(built_versions[1], base, 1)
    shutil.copytree(built_versions[2], base / ".5.tmp")
    shutil.copytree(built_versions[2], base / "v6")
    shutil.copytree(built_versions[2], base / "\u00b2")  # a digit to str.isdigit(), not a version
    (base / "7").write_text("a file, not a version folder")
    with make_core(base, factory) as core:
        assert states(core) == {1: "AVAILABLE"}


def test_corrupt_version_reports_error_and_previous_keeps_serving(
    tmp_path, built_versions, factory, make_core, caplog
):
    base = tmp_path / "emnist"
    publish(built_versions[2], base, 2)
    with make_core(base, factory) as core:
        broken = tmp_path / "broken"
        shutil.copytree(built_versions[3], broken)
        (broken / "model.onnx").write_bytes(b"not an onnx file")
        publish(broken, base, 3)
        core.watcher.poll_once()
        status = {s["version"]: s for s in core.manager.status("emnist")}
        assert status["3"]["state"] == "END"
        assert status["3"]["status"]["error_code"] != "OK"
        assert "model.onnx" in status["3"]["status"]["error_message"]
        assert status["2"]["state"] == "AVAILABLE"
        assert scores_of(core)[0] == 2
        assert any("loading servable {name: emnist version: 3} failed" in r.message for r in caplog.records)
        # Not retried while the folder stays the same...
        core.watcher.poll_once()
        assert factory.attempts.count((base / "3").resolve()) == 1
        # ...but retried once it is fixed, and then it takes over.
        shutil.copy(built_versions[3] / "model.onnx", base / "3" / "model.onnx")
        core.watcher.poll_once()
        assert states(core) == {3: "AVAILABLE", 2: "END"}
        assert scores_of(core)[0] == 3


def test_wrong_signature_and_bad_warmup_are_load_errors(tmp_path, built_versions, factory, make_core):
    base = tmp_path / "emnist"
    publish(built_versions[1], base, 1)
    write_onnx_version(tmp_path / "ten_classes", seed=2, outputs=10)
    publish(tmp_path / "ten_classes", base, 2)
    bad_warmup = tmp_path / "bad_warmup"
    shutil.copytree(built_versions[3], bad_warmup)
    write_tfrecords(bad_warmup / WARMUP_FILE, [warmup_record(IMAGES[:, :100])])
    publish(bad_warmup, base, 3)
    with make_core(base, factory, MODEL_VERSION_POLICY="all") as core:
        status = {s["version"]: s for s in core.manager.status("emnist")}
        assert status["2"]["state"] == "END"
        assert "(1, 10)" in status["2"]["status"]["error_message"]
        assert status["3"]["state"] == "END"
        assert "does not hold images of 784 pixels" in status["3"]["status"]["error_message"]
        assert status["1"]["state"] == "AVAILABLE"
        assert all(engine.closed for engine in factory.made_for(base / "2"))


def test_removed_version_is_unloaded(tmp_path, built_versions, factory, make_core):
    base = tmp_path / "emnist"
    publish(built_versions[1], base, 1)
    publish(built_versions[2], base, 2)
    with make_core(base, factory, MODEL_VERSION_POLICY="all") as core:
        assert states(core) == {2: "AVAILABLE", 1: "AVAILABLE"}
        shutil.rmtree(base / "1")
        core.watcher.poll_once()
        assert states(core) == {2: "AVAILABLE", 1: "END"}
        assert factory.made_for(base / "1")[0].closed
        with pytest.raises(ModelNotFoundError, match=r"Specific\(emnist, 1\)"):
            scores_of(core, version=1)
        # Removing the last version leaves nothing to serve: TF Serving does the same.
        shutil.rmtree(base / "2")
        core.watcher.poll_once()
        assert states(core) == {2: "END", 1: "END"}
        assert not core.manager.ready()


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("latest", {4: "AVAILABLE"}),
        ("latest:2", {4: "AVAILABLE", 3: "AVAILABLE"}),
        ("all", {4: "AVAILABLE", 3: "AVAILABLE", 2: "AVAILABLE", 1: "AVAILABLE"}),
        ("specific:1,3", {3: "AVAILABLE", 1: "AVAILABLE"}),
    ],
)
def test_version_policies(tmp_path, built_versions, factory, make_core, policy, expected):
    base = tmp_path / "emnist"
    for version, folder in built_versions.items():
        publish(folder, base, version)
    with make_core(base, factory, MODEL_VERSION_POLICY=policy) as core:
        assert states(core) == expected
        assert scores_of(core)[0] == max(expected)
        for version in expected:
            assert scores_of(core, version=version)[0] == version


def test_labels_route_to_their_versions(tmp_path, built_versions, factory, make_core):
    base = tmp_path / "emnist"
    for version in (1, 2, 3):
        publish(built_versions[version], base, version)
    labels = "stable=2,canary=3,future=4"
    with make_core(base, factory, MODEL_VERSION_POLICY="specific:2,3", MODEL_VERSION_LABELS=labels) as core:
        version, scores = scores_of(core, label="stable")
        assert version == 2
        np.testing.assert_allclose(scores, expected_scores(2, IMAGES), atol=1e-5)
        assert scores_of(core, label="canary")[0] == 3
        assert core.manager.status("emnist", label="canary")[0]["version"] == "3"
        # A label may only point at an AVAILABLE version (TF Serving's rule): "future" waits for version 4.
        assert core.manager.labels("emnist") == {"stable": 2, "canary": 3}
        with pytest.raises(VersionLabelError):
            scores_of(core, label="future")


def test_labels_for_unavailable_models_when_allowed(tmp_path, built_versions, factory, make_core):
    base = tmp_path / "emnist"
    publish(built_versions[1], base, 1)
    with make_core(base, factory, MODEL_VERSION_LABELS="next=2",
                       ALLOW_VERSION_LABELS_FOR_UNAVAILABLE_MODELS=True) as core:
        assert core.manager.labels("emnist") == {"next": 2}
        with pytest.raises(ModelNotFoundError, match=r"Specific\(emnist, 2\)"):
            scores_of(core, label="next")


def test_version_and_label_together_is_refused(tmp_path, built_versions, factory, make_core):
    base = tmp_path / "emnist"
    publish(built_versions[1], base, 1)
    with make_core(base, factory) as core, pytest.raises(InvalidArgumentError, match="not both"):
        scores_of(core, version=1, label="stable")


def test_poll_thread_picks_up_a_new_version(tmp_path, built_versions, factory, make_core):
    base = tmp_path / "emnist"
    publish(built_versions[1], base, 1)
    with make_core(base, factory, FILE_SYSTEM_POLL_SECONDS=0.05) as core:
        publish(built_versions[2], base, 2)
        deadline = time.monotonic() + 10
        while scores_of(core)[0] != 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert scores_of(core)[0] == 2


def test_sighup_triggers_a_rescan(tmp_path, built_versions, factory, make_core):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    base = tmp_path / "emnist"
    publish(built_versions[1], base, 1)
    previous = signal.getsignal(signal.SIGHUP)
    # No polling at all: only SIGHUP can make the watcher notice version 2.
    with make_core(base, factory, MODEL_RELOAD_ON_SIGHUP=True) as core:
        assert signal.getsignal(signal.SIGHUP) is not previous
        publish(built_versions[2], base, 2)
        time.sleep(0.1)
        assert scores_of(core)[0] == 1
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 10
        while scores_of(core)[0] != 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert scores_of(core)[0] == 2
    assert signal.getsignal(signal.SIGHUP) == previous


def test_stop_closes_every_engine(tmp_path, built_versions, factory, make_core):
    base = tmp_path / "emnist"
    publish(built_versions[1], base, 1)
    publish(built_versions[2], base, 2)
    core = make_core(base, factory, MODEL_VERSION_POLICY="all").start()
    core.stop()
    assert all(engine.closed for engines in factory.engines.values() for engine in engines)
    assert not core.manager.ready()
    assert core.manager.model_names() == []


def test_core_from_the_servers_settings(tmp_path, built_versions, factory, make_core):
    publish(built_versions[1], tmp_path / "digits", 1)
    core = make_core(None, factory, MODEL_BASE_PATH=str(tmp_path), MODEL_NAME="digits",
                     MODEL_VERSION_POLICY="latest:2", MODEL_VERSION_LABELS="stable=1")
    with core:
        assert core.manager.model_names() == ["digits"]
        assert core.manager.labels("digits") == {"stable": 1}
        with core.manager.acquire("digits", label="stable") as servable:
            assert (servable.name, servable.version) == ("digits", 1)
            assert servable.path == tmp_path / "digits" / "1"
            assert servable.engine.kind == "onnxruntime"
        assert core.manager.model_sources()[0].policy.describe() == "latest:2"


def test_warmup_reader_checks_records(tmp_path):
    path = tmp_path / "warmup"
    write_tfrecords(path, [warmup_record(IMAGES), warmup_record(IMAGES[:1])])
    batches = [decode_warmup_record(record) for record in read_tfrecords(path)]
    np.testing.assert_array_equal(batches[0], IMAGES)
    np.testing.assert_array_equal(batches[1], IMAGES[:1])
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WarmupError, match="corrupted data in record 0") as info:
        list(read_tfrecords(path))
    assert info.value.error_code == "DATA_LOSS"
    with pytest.raises(WarmupError, match="not a PredictionLog"):
        decode_warmup_record(b"\xff\xff\xff")


def test_a_record_length_past_the_files_end_is_refused_before_it_is_read(tmp_path):
    """A corrupt (or hostile) length field, with a valid checksum, declaring 1 TiB: read() would try to
    allocate it all."""
    from serving_core.lifecycle.warmup import masked_crc32c

    length = struct.pack("<Q", 2**40)
    path = tmp_path / "warmup"
    path.write_bytes(length + struct.pack("<I", masked_crc32c(length)) + b"record")
    with pytest.raises(WarmupError, match="truncated record 0") as info:
        list(read_tfrecords(path))
    assert info.value.error_code == "DATA_LOSS"
