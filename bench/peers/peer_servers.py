"""How each server of the comparison is started, what it is asked and how its answer is read.

Every server serves the same ``model.onnx`` (the served version of the model) with onnxruntime, on free
loopback ports, pinned with ``taskset`` to the cores of the run and with one worker per core, each set up
as its documentation recommends for throughput:

* ours: ``python -m webapp.model_server`` (REST and gRPC in one command) with the onnxruntime engine and
  its shipped settings; REST is TF Serving's ``:predict``, gRPC both TF Serving's ``Predict`` and the Open
  Inference Protocol's ``ModelInfer``;
* MLServer: ``mlserver start`` with a custom runtime (``mlserver_runtime.py``), ``parallel_workers`` one
  per core, adaptive batching, ``debug`` off; REST and gRPC are the Open Inference Protocol (V2);
* BentoML: ``bentoml serve`` of ``bentoml_service.py`` (a worker per core, adaptive batching), REST only;
* LitServe: ``litserve_server.py`` (a worker per core, batching, the ZeroMQ queue), REST only;
* TorchServe: ``torchserve --foreground`` with ``torchserve_handler.py`` in a model archive, a worker per
  core and server-side batching, REST only; it needs a Java runtime.

Each server's REST body is its own JSON request format holding the same pixels/255.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bench_servers import free_port, stop_process_group, tree_cpu_seconds

PEERS_DIR = Path(__file__).resolve().parent
REPO = PEERS_DIR.parents[1]
#: How long a batching peer waits for more requests (MLServer's max_batch_time, LitServe's batch_timeout,
#: TorchServe's maxBatchDelay): 1 ms, and at most 8 requests (the highest load's connections) per batch.
BATCH_WAIT_S = 0.001
BATCH_REQUESTS = 8
SERVER_NAMES = {"ours": "ours (webapp.model_server)", "mlserver": "MLServer", "bentoml": "BentoML",
                "litserve": "LitServe", "torchserve": "TorchServe"}


def version_dir(model_name: str) -> Path:
    """The version our server serves: the newest numbered folder of models/<name>."""
    versions = [p for p in (REPO / "models" / model_name).iterdir() if p.name.isdigit()]
    if not versions:
        raise RuntimeError(f"models/{model_name} has no version folder")
    return max(versions, key=lambda p: int(p.name))


def rest_body(kind: str, images: np.ndarray) -> bytes:
    """One REST request of ``images`` (uint8 [N,28,28]) as pixels/255 in a server's JSON format."""
    rows = (images.reshape(len(images), -1) / 255.0).tolist()
    if kind == "tfserving":  # TF Serving's row format (ours, LitServe's and TorchServe's handlers)
        body: Any = {"instances": rows}
    elif kind == "v2":  # the Open Inference Protocol's JSON tensor (MLServer)
        body = {"inputs": [{"name": "images", "shape": [len(rows), 784], "datatype": "FP32",
                            "data": [value for row in rows for value in row]}]}
    elif kind == "bentoml":  # the API method's parameters by name
        body = {"images": rows}
    else:
        raise ValueError(f"unknown REST format {kind!r}")
    return json.dumps(body).encode()


def rest_scores(kind: str, answer: bytes) -> np.ndarray:
    """The scores [N,62] in a server's JSON answer."""
    parsed = json.loads(answer)
    if kind == "v2":
        (output,) = parsed["outputs"]
        return np.asarray(output["data"], np.float32).reshape(output["shape"])
    if kind == "bentoml":
        return np.asarray(parsed, np.float32)
    return np.asarray(parsed["predictions"], np.float32)


def post(url: str, body: bytes, timeout: float = 30) -> tuple[int, bytes]:
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("POST", "/" + path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class PeerServer:
    """A server of the comparison, started in its own session (process group) on loopback ports."""

    key: str
    rest_url: str
    rest_format: str
    process: subprocess.Popen
    log_path: Path
    #: gRPC services it speaks -> host:port ("tfs": TF Serving's Predict, "v2": ModelInfer).
    grpc: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def name(self) -> str:
        return SERVER_NAMES[self.key]

    def log_tail(self, size: int = 1500) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_ready(self, probe: bytes, expected: np.ndarray, timeout: float) -> float:
        """Seconds from spawn until the REST route answers the probe with the expected scores.

        Engines are equal, so every server must give the in-process scores (within float error)."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log_tail()}")
            try:
                status, answer = post(self.rest_url, probe, timeout=10)
            except OSError:
                status, answer = 0, b""
            if status == 200:
                scores = rest_scores(self.rest_format, answer)
                if scores.shape != expected.shape or not np.allclose(scores, expected, atol=1e-4):
                    raise RuntimeError(f"{self.name} answered other scores than the model's: "
                                       f"{answer[:200]!r}")
                return time.perf_counter() - self.started
            time.sleep(0.25)
        raise RuntimeError(f"{self.name}: no answer within {timeout:.0f} s: {self.log_tail()}")

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.process.pid)

    def rss_mb(self) -> tuple[float, int]:
        """(RSS summed over the server's processes in MB, how many processes)."""
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
            return sum(p.memory_info().rss for p in processes) / 2**20, len(processes)
        except psutil.Error:
            return float("nan"), 0

    def stop(self) -> None:
        """SIGTERM to the whole process group, then until every process of it is gone (SIGKILL after 20 s):
        the process started can exit before its children (TorchServe's Java front end outlives its Python
        launcher, and refuses to start while its pid file names a live process)."""
        stop_process_group(self.process, grace=20)
        started = time.monotonic()
        while time.monotonic() - started < 25:  # a zombie nobody reaps would answer forever
            try:
                os.killpg(self.process.pid, signal.SIGKILL if time.monotonic() - started > 20 else 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def _spawn(command: list[str], cpus: str, cwd: Path, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(["taskset", "-c", cpus, *command], cwd=cwd, env=env, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _peer_env(bin_dir: Path, model_file: Path, workers: int) -> dict[str, str]:
    """A peer's environment: its venv's scripts first, this folder importable, telemetry off."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{bin_dir}:{env.get('PATH', '')}", PYTHONPATH=str(PEERS_DIR),
               VIRTUAL_ENV=str(bin_dir.parent),
               EMNIST_PEER_MODEL=str(model_file), EMNIST_PEER_WORKERS=str(workers),
               ORT_DISABLE_TELEMETRY="1", BENTOML_DO_NOT_TRACK="True", DO_NOT_TRACK="1",
               LITSERVE_DISABLE_TELEMETRY="1", OMP_NUM_THREADS="1")
    return env


def start_ours(python: str, model_name: str, cpus: str, workers: int, folder: Path) -> PeerServer:
    rest_port, grpc_port = free_port(), free_port()
    env = {**os.environ, "EMNIST_ENGINE": "onnxruntime", "EMNIST_MODEL_NAME": model_name,
           "EMNIST_MODEL_BASE_PATH": str(REPO / "models"), "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0",
           "WEB_CONCURRENCY": str(workers), "EMNIST_GRPC_WORKERS": str(workers),
           "EMNIST_GRPC_GRACE_SECONDS": "2"}
    command = [python, "-m", "webapp.model_server", "--host", "127.0.0.1", "--port", str(grpc_port),
               "--rest_api_port", str(rest_port)]
    log_path = folder / "ours.log"
    process = _spawn(command, cpus, REPO, env, log_path)
    target = f"127.0.0.1:{grpc_port}"
    return PeerServer("ours", f"http://127.0.0.1:{rest_port}/v1/models/{model_name}:predict", "tfserving",
                      process, log_path, {"tfs": target, "v2": target})


def start_mlserver(bin_dir: Path, model_file: Path, model_name: str, cpus: str, workers: int,
                   folder: Path) -> PeerServer:
    rest_port, grpc_port = free_port(), free_port()
    root = folder / "mlserver"
    (root / model_name).mkdir(parents=True, exist_ok=True)
    (root / "settings.json").write_text(json.dumps({
        "debug": False, "host": "127.0.0.1", "http_port": rest_port, "grpc_port": grpc_port,
        "metrics_port": free_port(), "parallel_workers": workers,
    }))
    (root / model_name / "model-settings.json").write_text(json.dumps({
        "name": model_name, "implementation": "mlserver_runtime.OnnxRuntimeModel",
        "max_batch_size": BATCH_REQUESTS, "max_batch_time": BATCH_WAIT_S,
    }))
    log_path = folder / "mlserver.log"
    process = _spawn([str(bin_dir / "mlserver"), "start", str(root)], cpus, root,
                     _peer_env(bin_dir, model_file, workers), log_path)
    return PeerServer("mlserver", f"http://127.0.0.1:{rest_port}/v2/models/{model_name}/infer", "v2",
                      process, log_path, {"v2": f"127.0.0.1:{grpc_port}"})


def start_bentoml(bin_dir: Path, model_file: Path, cpus: str, workers: int, folder: Path) -> PeerServer:
    port = free_port()
    env = {**_peer_env(bin_dir, model_file, workers), "BENTOML_HOME": str(folder / "bentoml-home")}
    log_path = folder / "bentoml.log"
    process = _spawn([str(bin_dir / "bentoml"), "serve", "bentoml_service:EmnistOnnx", "--host", "127.0.0.1",
                      "--port", str(port)], cpus, PEERS_DIR, env, log_path)
    return PeerServer("bentoml", f"http://127.0.0.1:{port}/predict", "bentoml", process, log_path)


def start_litserve(bin_dir: Path, model_file: Path, cpus: str, workers: int, folder: Path) -> PeerServer:
    port = free_port()
    log_path = folder / "litserve.log"
    command = [str(bin_dir / "python"), str(PEERS_DIR / "litserve_server.py"), str(port), str(workers)]
    process = _spawn(command, cpus, folder, _peer_env(bin_dir, model_file, workers), log_path)
    return PeerServer("litserve", f"http://127.0.0.1:{port}/predict", "tfserving", process, log_path)


def java_missing() -> str | None:
    """Why TorchServe cannot run here, or None."""
    if shutil.which("java") is None:
        return ("no Java runtime (TorchServe's front end is Java; Debian: apt-get install "
                "default-jre-headless)")
    return None


def start_torchserve(bin_dir: Path, model_file: Path, model_name: str, cpus: str, workers: int,
                     folder: Path) -> PeerServer:
    root = folder / "torchserve"
    store = root / "store"
    store.mkdir(parents=True, exist_ok=True)
    env = _peer_env(bin_dir, model_file, workers)
    subprocess.run([str(bin_dir / "torch-model-archiver"), "--model-name", model_name, "--version", "1.0",
                    "--serialized-file", str(model_file),
                    "--handler", str(PEERS_DIR / "torchserve_handler.py"),
                    "--extra-files", str(PEERS_DIR / "onnx_model.py"),
                    "--export-path", str(store), "--force"],
                   check=True, capture_output=True, env=env, timeout=120)
    port = free_port()
    models = {model_name: {"1.0": {"defaultVersion": True, "marName": f"{model_name}.mar",
                                   "minWorkers": workers, "maxWorkers": workers, "batchSize": BATCH_REQUESTS,
                                   "maxBatchDelay": round(BATCH_WAIT_S * 1000), "responseTimeout": 60}}}
    (root / "config.properties").write_text("\n".join([
        f"inference_address=http://127.0.0.1:{port}",
        f"management_address=http://127.0.0.1:{free_port()}",
        f"metrics_address=http://127.0.0.1:{free_port()}",
        "disable_token_authorization=true",
        "async_logging=true",
        "install_py_dep_per_model=false",
        f"default_workers_per_model={workers}",
        f"number_of_netty_threads={workers}",
        f"model_store={store}",
        f"load_models={model_name}.mar",
        f"models={json.dumps(models)}",
        "",
    ]))
    env.update(LOG_LOCATION=str(root / "logs"), METRICS_LOCATION=str(root / "logs"))
    log_path = folder / "torchserve.log"
    process = _spawn([str(bin_dir / "torchserve"), "--start", "--foreground", "--ncs",
                      "--model-store", str(store), "--ts-config", str(root / "config.properties"),
                      "--disable-token-auth"],
                     cpus, root, env, log_path)
    return PeerServer("torchserve", f"http://127.0.0.1:{port}/predictions/{model_name}", "tfserving",
                      process, log_path)
