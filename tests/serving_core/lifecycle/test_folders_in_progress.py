"""Version folders written in place: loaded only whole and settled, loaded again when they change."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from emnist_contract import layout
from serving_core.lifecycle.source import incomplete
from serving_core.request import ModelSpec
from tests.support.paths import served_version_dir
from tests.support.requests import inference_request

FULL_SET = {"serving_default", "predict_images", "classify"}
#: Everything of the served version folder but its model.onnx.
REST = sorted(name for name in layout.VERSION_ENTRIES
              if (served_version_dir() / name).exists() and name != layout.ONNX_FILE)


def copy_entries(source: Path, target: Path, names: list[str]) -> None:
    """Copy some entries of a version folder, as a plain ``cp -r`` does, one after the other."""
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name)
        else:
            shutil.copyfile(source / name, target / name)  # a fresh modification time, as cp gives


def signature_names(core, version: int | None = None) -> set[str]:
    metadata = core.service.metadata(ModelSpec("emnist", version))
    return {name for name in metadata.signature_defs["signature_def"] if not name.startswith("__")}


def test_incomplete_folders_are_told_from_whole_ones(tmp_path):
    source = served_version_dir()
    whole = tmp_path / "1"
    shutil.copytree(source, whole)
    assert incomplete(whole, "onnxruntime") is None and incomplete(whole, "tensorflow") is None
    (whole / layout.VARIABLES_DIR / "variables.data-00000-of-00001").rename(whole / "moved")
    assert incomplete(whole, "tensorflow") == "variables/ has no consistent set of data shards"
    assert incomplete(whole, "onnxruntime") is not None  # a SavedModel is coming: it must be whole too
    started = tmp_path / "2"
    copy_entries(source, started, [layout.SAVED_MODEL_FILE])
    assert incomplete(started, "tensorflow") == "saved_model.pb is there but its variables/ is not"
    (started / layout.ONNX_FILE).write_bytes(b"")
    assert incomplete(started, "onnxruntime") == "model.onnx is missing or empty"
    bare = tmp_path / "3"
    copy_entries(source, bare, [layout.ONNX_FILE])
    assert incomplete(bare, "onnxruntime") is None  # a bare ONNX version is whole
    assert incomplete(bare, "tensorflow") == "saved_model.pb is missing or empty"


def test_a_copy_in_progress_is_loaded_once_settled(tmp_path, make_core):
    """model.onnx first, the rest a moment later: the load waits for the folder to settle."""
    base = tmp_path / "emnist"
    version = base / "1"
    copy_entries(served_version_dir(), version, [layout.ONNX_FILE])

    def the_rest() -> None:
        time.sleep(0.05)
        copy_entries(served_version_dir(), version, REST)

    copier = threading.Thread(target=the_rest)
    copier.start()
    try:
        core = make_core(base, MODEL_SETTLE_SECONDS=1.0).start()
    finally:
        copier.join()
    assert signature_names(core) == FULL_SET


def test_a_version_that_changes_after_its_load_is_loaded_again(tmp_path, factory, make_core):
    base = tmp_path / "emnist"
    copy_entries(served_version_dir(), base / "1", [layout.ONNX_FILE])  # a bare ONNX version, for now
    core = make_core(base, factory).start()
    assert signature_names(core) == {"serving_default"}
    first = factory.made_for(base / "1")[0]
    copy_entries(served_version_dir(), base / "1", REST)
    core.manager.refresh()
    assert signature_names(core) == FULL_SET
    assert first.closed and len(factory.made_for(base / "1")) == 2
    assert core.manager.status("emnist")[0]["state"] == "AVAILABLE"


def test_a_change_that_does_not_load_leaves_the_loaded_version_serving(tmp_path, factory, make_core):
    """The first case of the issue: saved_model.pb unreadable after the load changes nothing served."""
    base = tmp_path / "emnist"
    shutil.copytree(served_version_dir(), base / "1")
    core = make_core(base, factory).start()
    images = np.zeros((2, 784), np.float32)
    expected = core.service.predict(inference_request(ModelSpec("emnist"), images)).outputs["scores"]
    (base / "1" / layout.SAVED_MODEL_FILE).write_bytes(b"\x00garbage")
    core.manager.refresh()
    core.manager.refresh()  # the refused change is not tried again until the folder changes once more
    assert factory.attempts.count((base / "1").resolve()) == 2  # the first load and one reload
    assert not factory.made_for(base / "1")[0].closed
    answer = core.service.predict(inference_request(ModelSpec("emnist"), images))
    np.testing.assert_array_equal(answer.outputs["scores"],
                                  expected)
    assert signature_names(core) == FULL_SET and core.service.readiness("emnist").ready


class ChangingFactory:
    """Wraps a factory and rewrites a file of the folder during the first load (a copy still running)."""

    def __init__(self, inner, victim: Path) -> None:
        self.inner, self.victim, self.calls = inner, victim, 0

    def __call__(self, kind: str, version_dir: Path):
        self.calls += 1
        if self.calls == 1:
            time.sleep(0.01)
            self.victim.write_text("\n".join(self.victim.read_text().splitlines()) + "\n")
        return self.inner(kind, version_dir)


def test_a_folder_that_changes_during_its_load_is_not_served_and_is_tried_again(tmp_path, factory,
                                                                               make_core):
    base = tmp_path / "emnist"
    shutil.copytree(served_version_dir(), base / "1")
    changing = ChangingFactory(factory, base / "1" / layout.LABELS_FILE)
    core = make_core(base, changing).start()
    (status,) = core.manager.status("emnist")
    assert status["state"] == "END" and status["status"]["error_code"] == "UNAVAILABLE"
    assert status["status"]["error_message"] == "1: the version folder changed while it was loading"
    assert factory.made_for(base / "1")[0].closed
    core.manager.refresh()  # the folder differs from what the failed load saw: it is tried again
    assert core.manager.status("emnist")[0]["state"] == "AVAILABLE"
    assert signature_names(core) == FULL_SET


@pytest.mark.parametrize("kind", ["onnxruntime", "tensorflow"])
def test_failed_versions_show_paths_relative_to_the_base_path(tmp_path, make_core, kind):
    base = tmp_path / "emnist"
    (base / "4").mkdir(parents=True)
    (base / "4" / layout.ONNX_FILE).write_bytes(b"not a model")
    (base / "4" / layout.SAVED_MODEL_FILE).write_bytes(b"\x00not a model")
    (base / "4" / layout.VARIABLES_DIR).mkdir()
    (base / "4" / layout.VARIABLES_DIR / layout.VARIABLES_INDEX).write_bytes(b"x")
    (base / "4" / layout.VARIABLES_DIR / "variables.data-00000-of-00001").write_bytes(b"x")
    core = make_core(base, ENGINE=kind).start()
    (status,) = core.manager.status("emnist")
    assert status["state"] == "END"
    message = status["status"]["error_message"]
    assert str(tmp_path) not in message and message.startswith("4"), message
