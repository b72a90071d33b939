"""What ``make run`` holds in memory: the whole model server (``python -m webapp.model_server``: the launcher,
its gRPC workers, gunicorn's master and workers) with one engine, after real requests on both ports.

``python bench/server_memory.py --engine onnxruntime`` starts it on free loopback ports with the process
counts it would have under ``make run`` (one gunicorn and one gRPC worker per core unless
``WEB_CONCURRENCY``/``EMNIST_GRPC_WORKERS`` say otherwise), notes each process's RSS once the model is
loaded, sends ``--requests`` rounds of a 128-image ``:predict``, a ``/predict`` with a PNG and a 128-image
gRPC Predict, then prints each process's RSS then and after, its PSS (shared pages split among the
processes that map them, so the PSS add up to what the server takes) and one JSON line. Figures:
docs/server-costs.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench_servers import free_port, stop_process_group  # bench/ is the script's folder
from grpc_load import check_answer, predict_request, validation_images, wait_serving

REPO = Path(__file__).resolve().parent.parent
START_SECONDS = 180.0


def post(url: str, body: bytes, content_type: str) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def wait_rest(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the model server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {START_SECONDS:.0f} s")


def multipart_png(data: bytes) -> tuple[bytes, str]:
    boundary = "benchboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def role(process, launcher_pid: int) -> str:
    if process.pid == launcher_pid:
        return "launcher"
    if process.ppid() != launcher_pid:
        return "gunicorn worker"
    return "gunicorn master" if "gunicorn" in " ".join(process.cmdline()) else "gRPC worker"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True, choices=("tensorflow", "onnxruntime"))
    parser.add_argument("--model-name", default="emnist")
    parser.add_argument("--requests", type=int, default=40, help="rounds of the three requests")
    args = parser.parse_args()
    import psutil

    rest_port, grpc_port = free_port(), free_port()
    env = {**os.environ, "EMNIST_ENGINE": args.engine, "EMNIST_MODEL_NAME": args.model_name,
           "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp.model_server", "--host", "127.0.0.1", "--port", str(grpc_port),
         "--rest_api_port", str(rest_port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url, target = f"http://127.0.0.1:{rest_port}", f"127.0.0.1:{grpc_port}"
        wait_rest(url, process)
        wait_serving(target, process, START_SECONDS, args.model_name, lambda: "")
        launcher = psutil.Process(process.pid)
        loaded = {member.pid: member.memory_info().rss for member in [launcher, *launcher.children(True)]}
        images = validation_images(128)
        rows = json.dumps({"instances": images.round(4).tolist()}).encode()
        form, form_type = multipart_png((REPO / "test_images" / "A_upper_0.png").read_bytes())
        grpc_request = predict_request(images, args.model_name)
        for _ in range(args.requests):
            post(f"{url}/v1/models/{args.model_name}:predict", rows, "application/json")
            post(f"{url}/predict", form, form_type)
            check_answer(target, grpc_request)  # a new channel each time: the gRPC workers share the port
        processes = []
        for member in [launcher, *launcher.children(recursive=True)]:
            memory = member.memory_full_info()
            processes.append({"pid": member.pid, "role": role(member, process.pid),
                              "loaded_rss_mb": round(loaded.get(member.pid, 0) / 2**20),
                              "rss_mb": round(memory.rss / 2**20), "pss_mb": round(memory.pss / 2**20)})
    finally:
        stop_process_group(process)
    for entry in processes:
        print(f"{entry['role']:16s} pid {entry['pid']:7d}  RSS loaded {entry['loaded_rss_mb']:5d} MB, "
              f"after {entry['rss_mb']:5d} MB  PSS {entry['pss_mb']:5d} MB")
    total = sum(entry["pss_mb"] for entry in processes)
    print(f"{args.engine}: {len(processes)} processes, {total} MB in all (PSS)")
    print(json.dumps({"engine": args.engine, "model": args.model_name, "processes": processes,
                      "total_pss_mb": total}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
