"""A real worker without an AVAILABLE model leaves the rotation; gunicorn's control socket is not shared."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import time

import pytest

from tests.support.gunicorn import gunicorn_server
from tests.support.paths import SERVED_MODEL, served_version_dir

PREDICT = f"/v1/models/{SERVED_MODEL}:predict"
LIVENESS_S = 30.0
BODY = json.dumps({"instances": [[0.0] * 784]}).encode()


def wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + LIVENESS_S
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def answers(server, count: int) -> list[int]:
    """Statuses of ``count`` predictions, each on a new connection (so the workers share them)."""
    headers = {"Content-Type": "application/json"}
    return [server.request("POST", PREDICT, BODY, headers)[0] for _ in range(count)]


@pytest.mark.slow
def test_a_worker_without_its_model_leaves_the_rotation_until_it_has_it_again(tmp_path):
    base = tmp_path / "models" / SERVED_MODEL
    shutil.copytree(served_version_dir(), base / "1")
    home, control = tmp_path / "home", tmp_path / "gunicorn.ctl"
    home.mkdir()
    env = {"EMNIST_MODEL_BASE_PATH": str(base), "HOME": str(home), "GUNICORN_CONTROL_SOCKET": str(control)}
    with gunicorn_server(tmp_path, workers=2, env=env) as server:
        assert stat.S_ISSOCK(control.stat().st_mode) and not (home / ".gunicorn").exists()
        lost, kept = server.worker_pids()
        # Worker `lost` rescans while the version folder is away (no polling: only it sees that) and
        # unloads its version; the folder comes back, but `lost` has nothing AVAILABLE until it rescans.
        (base / "1").rename(base / ".1-away")
        os.kill(lost, signal.SIGHUP)
        wait_for(lambda: re.search(rf"\[{lost}\] INFO serving_core.lifecycle.manager: done unloading",
                                   server.log()), "the worker did not unload its version")
        (base / ".1-away").rename(base / "1")
        # It leaves the rotation at its next readiness check; before that, 30 requests may all happen to
        # reach the other worker, so their answers alone do not show that it left.
        left = f"worker {lost}: no AVAILABLE model"
        wait_for(lambda: left in server.log(), "it did not leave the rotation")
        wait_for(lambda: answers(server, 30) == [200] * 30, "requests still reach the worker without a model")
        ready = [server.request("GET", "/readyz")[0] for _ in range(10)]
        assert ready == [200] * 10
        os.kill(lost, signal.SIGHUP)  # it loads the version again and takes connections again
        wait_for(lambda: f"worker {lost} takes connections again" in server.log(), "it did not come back")
        assert answers(server, 10) == [200] * 10 and server.worker_pids() == sorted([lost, kept])
