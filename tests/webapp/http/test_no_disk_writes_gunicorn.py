"""Nothing a user sends reaches the disk, and onnxruntime keeps no telemetry: strace on the real workers."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

from tests.support.gunicorn import gunicorn_server
from tests.support.paths import SERVED_MODEL, encode_image

#: System calls that create, write or move files, and the open flags that write.
TRACED = "trace=open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,unlink,unlinkat"
WRITES = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TMPFILE|O_TRUNC|O_APPEND")


def upload(fields: int = 1) -> tuple[bytes, str]:
    """A multipart form with a 1.2 MB PNG (Werkzeug spools files over 500 KB to a temporary file)."""
    noise = np.random.default_rng(0).integers(0, 256, (1100, 1100), dtype=np.uint8)
    noise[300:800, 500:600] = 0
    boundary = "no-disk"
    part = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode() + encode_image(noise) + b"\r\n"
    return part * fields + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def file_writes(trace: str) -> list[str]:
    """The traced calls that wrote, created or moved a file (reads are not listed)."""
    writes = []
    for line in trace.splitlines():
        call = line.split(maxsplit=1)[-1]
        if call.startswith(("open(", "openat(", "creat(")) and not WRITES.search(call):
            continue
        if " = -1 " in call or "resumed>" in call and not WRITES.search(call):
            continue
        writes.append(call)
    return writes


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (apt-get install strace)")
def test_requests_write_no_file_and_onnxruntime_keeps_no_telemetry(tmp_path):
    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    env = {"HOME": str(home), "TMPDIR": str(temp), "PYTHONDONTWRITEBYTECODE": "1"}
    with gunicorn_server(tmp_path, workers=1, env=env) as server:
        assert not (home / ".cache").exists(), sorted(p.name for p in home.rglob("*"))
        trace_path = tmp_path / "strace.txt"
        pids = [arg for pid in server.worker_pids() for arg in ("-p", str(pid))]
        tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", TRACED, "-o", str(trace_path), *pids])
        try:
            time.sleep(1.0)  # strace is attached
            body, content_type = upload()
            for route in ("/predict", "/"):
                status, _, answer = server.request("POST", route, body, {"Content-Type": content_type}, 60)
                assert status in (200, 400), (route, answer[:300])  # decoded and read (noise may be no ink)
            document = json.dumps({"instances": [[0.0] * 784] * 64}).encode()
            path = f"/v1/models/{SERVED_MODEL}:predict"
            assert server.request("POST", path, document, {"Content-Type": "application/json"})[0] == 200
            time.sleep(0.5)
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(10)
        assert file_writes(trace_path.read_text()) == []
        assert list(temp.iterdir()) == [] and not (home / ".cache").exists()
        assert not (home / ".gunicorn").exists()  # no control socket shared by every instance
