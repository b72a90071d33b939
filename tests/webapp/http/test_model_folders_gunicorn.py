"""Two real workers and a version copied in place: both end with the whole version; status shows no paths."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from emnist_contract import layout
from tests.support.gunicorn import gunicorn_server
from tests.support.paths import SERVED_MODEL, served_version_dir

FULL_SET = {"serving_default", "predict_images", "classify"}
LIVENESS_S = 60.0


def signature_sets(server, version: int, count: int) -> list[frozenset[str]]:
    """The signature names that ``count`` requests on fresh connections (so: both workers) were given."""
    seen = []
    for _ in range(count):
        status, _, body = server.request("GET", f"/v1/models/{SERVED_MODEL}/versions/{version}/metadata")
        names = json.loads(body)["metadata"]["signature_def"]["signature_def"] if status == 200 else {}
        seen.append(frozenset(name for name in names if not name.startswith("__")))
    return seen


@pytest.mark.slow
def test_both_workers_end_with_the_whole_version_after_a_copy_in_place(tmp_path):
    base = tmp_path / "models" / SERVED_MODEL
    shutil.copytree(served_version_dir(), base / "1")
    env = {"EMNIST_MODEL_BASE_PATH": str(base), "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0.2",
           "EMNIST_MODEL_SETTLE_SECONDS": "0.3"}
    with gunicorn_server(tmp_path, workers=2, env=env) as server:
        # A plain copy that writes model.onnx first and the rest after a pause longer than the settle
        # time: a worker may well load the bare ONNX model in between.
        version = base / "2"
        version.mkdir()
        shutil.copyfile(served_version_dir() / layout.ONNX_FILE, version / layout.ONNX_FILE)
        time.sleep(1.5)
        for name in sorted(layout.VERSION_ENTRIES - {layout.ONNX_FILE}):
            source = served_version_dir() / name
            if source.is_dir():
                shutil.copytree(source, version / name)
            elif source.exists():
                shutil.copyfile(source, version / name)
        deadline = time.monotonic() + LIVENESS_S
        while signature_sets(server, 2, 20) != [FULL_SET] * 20:
            assert time.monotonic() < deadline, "the workers did not both serve the whole version 2"
            time.sleep(0.3)
        # A broken version: its status names files relative to the model base path only.
        (base / "3").mkdir()
        (base / "3" / layout.ONNX_FILE).write_bytes(b"not a model")
        deadline = time.monotonic() + LIVENESS_S
        while True:
            status = json.loads(server.request("GET", f"/v1/models/{SERVED_MODEL}/versions/3")[2])
            if status.get("model_version_status", [{}])[0].get("state") == "END":
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        message = status["model_version_status"][0]["status"]["error_message"]
        assert message.startswith("3/model.onnx: cannot open with onnxruntime"), message
        assert str(tmp_path) not in message
