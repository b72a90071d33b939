"""Soak compose.yaml's stack: mixed REST, gRPC and uploads for a long while, with versions published, a
corrupt version, replicas killed and SIGHUP, and say what it cost per minute.

    .venv/bin/python bench/soak.py                      # 10 minutes (the images built: make images)
    .venv/bin/python bench/soak.py --duration 60 --publish-every 15 --kill-every 20   # CI's version

Starts the stack (podman-compose) on a models folder of its own (the bundled model as version 1), then runs
``--clients`` threads of each kind until ``--duration`` is over: TF Serving's REST ``:predict`` (one image,
JSON) through the load balancer and the front end, TF Serving's gRPC ``Predict`` through the load balancer
to the replicas, and PNG uploads to ``/predict`` through the front end. Meanwhile: a new version every
``--publish-every`` seconds (the second one published is corrupt: its files are not a model, and the
replicas must keep serving the version before it), a replica killed (SIGKILL) and started again every
``--kill-every`` seconds, the two in turn, and SIGHUP to every replica half-way. Prints, per minute and
kind: requests, failed requests and p99 latency; per minute, the RSS of each container (its processes,
summed) and its growth from start to end. Exits 1 when a request failed.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import psutil
from PIL import Image

from bench.compose_stack import REPLICAS, ComposeStack
from bench.containers import REPO, podman
from model_tools.data.datasets import load_split
from tf_serving_protos.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tf_serving_protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

SERVICES = (*REPLICAS, "front-end", "load-balancer")
KINDS = ("rest", "grpc", "upload")


@dataclass
class Outcomes:
    """(minute, kind) -> latencies (s) of the answered requests, and the failures: when (s from the start)
    and what went wrong."""

    started: float = field(default_factory=time.monotonic)
    latencies: dict[tuple[int, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[tuple[int, str], list[tuple[float, str]]] = field(
        default_factory=lambda: defaultdict(list))
    #: minute -> service -> RSS (MB) sampled at the minute's start.
    rss: dict[int, dict[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, began: float, error: str | None) -> None:
        minute = int((began - self.started) // 60)
        with self.lock:
            if error is None:
                self.latencies[(minute, kind)].append(time.monotonic() - began)
            else:
                self.failures[(minute, kind)].append((began - self.started, error))

    def note(self, event: str) -> None:
        """An event, printed with the clock and its second since the start (failures are reported so)."""
        print(f"[{time.strftime('%H:%M:%S')} +{time.monotonic() - self.started:.1f} s] {event}", flush=True)


def rest_call(stack: ComposeStack, body: bytes) -> None:
    request = urllib.request.Request(stack.url("/v1/models/emnist:predict"), body,
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        json.load(answer)["predictions"]  # noqa: B018 (the answer must be TF Serving's)


def upload_call(stack: ComposeStack, png: bytes) -> None:
    boundary = "soakboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(stack.url("/predict"), body,
                                     {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        json.load(answer)["results"]  # noqa: B018


def grpc_request(image: np.ndarray) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "emnist"
    request.inputs["images"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_content=(image.reshape(1, 784) / 255.0).astype("<f4").tobytes(),
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1),
                                                            tensor_shape_pb2.TensorShapeProto.Dim(size=784)])))
    return request


def client(kind: str, stack: ComposeStack, image: np.ndarray, outcomes: Outcomes, stop_at: float) -> None:
    body = json.dumps({"instances": (image.reshape(1, 784) / 255.0).tolist()}).encode()
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    png = buffer.getvalue()
    channel = grpc.insecure_channel(stack.grpc_target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = grpc_request(image)
    while time.monotonic() < stop_at:
        began = time.monotonic()
        try:
            if kind == "rest":
                rest_call(stack, body)
            elif kind == "upload":
                upload_call(stack, png)
            else:
                stub.Predict(request, timeout=30)
            outcomes.record(kind, began, None)
        except urllib.error.HTTPError as refusal:
            outcomes.record(kind, began, f"{refusal.code} {refusal.read()[:160]!r}")
        except (urllib.error.URLError, ConnectionError, TimeoutError, grpc.RpcError) as exc:
            outcomes.record(kind, began, f"{type(exc).__name__}: {str(exc)[:160]}")
    channel.close()


def rss_mb(stack: ComposeStack, service: str) -> float:
    """The RSS of a container's processes, summed (MB); 0 when it is not running."""
    inspected = podman("inspect", "--format", "{{.State.Pid}}", stack.container(service), check=False)
    pid = inspected.stdout.strip()
    if not pid.isdigit() or pid == "0":
        return 0.0
    try:
        root = psutil.Process(int(pid))
        return sum(process.memory_info().rss for process in (root, *root.children(recursive=True))) / 2**20
    except psutil.NoSuchProcess:
        return 0.0


def publish(models: Path, version: int, corrupt: bool, outcomes: Outcomes) -> None:
    staging = models / "emnist" / f".{version}.tmp"
    if corrupt:
        staging.mkdir()
        (staging / "saved_model.pb").write_bytes(b"not a SavedModel")
        (staging / "model.onnx").write_bytes(b"not an ONNX model")
    else:
        shutil.copytree(REPO / "models" / "emnist" / "3", staging)
    for path in (staging, *staging.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    staging.rename(models / "emnist" / str(version))
    outcomes.note(f"published version {version}{' (corrupt)' if corrupt else ''}")


def events(stack: ComposeStack, args: argparse.Namespace, outcomes: Outcomes, stop_at: float) -> None:
    """Publish, kill and restart, SIGHUP, on their schedules, until the end; RSS sampled each minute."""
    start = time.monotonic()
    version, published, kills, hangup_sent, minute = 1, 0, 0, False, -1
    next_publish, next_kill = start + args.publish_every, start + args.kill_every
    while time.monotonic() < stop_at - 5:
        now = time.monotonic()
        if int((now - outcomes.started) // 60) != minute:
            minute = int((now - outcomes.started) // 60)
            outcomes.rss[minute] = {service: rss_mb(stack, service) for service in SERVICES}
        if now >= next_publish:
            version += 1
            published += 1
            publish(stack.models_dir, version, corrupt=published == 2, outcomes=outcomes)
            next_publish += args.publish_every
        if now >= next_kill:
            replica = REPLICAS[kills % 2]
            kills += 1
            podman("kill", "--signal", "KILL", stack.container(replica), check=False)
            outcomes.note(f"killed {replica}")
            time.sleep(2)
            podman("start", stack.container(replica), check=False, timeout=60)
            outcomes.note(f"started {replica} again")
            next_kill += args.kill_every
        if not hangup_sent and now >= start + (stop_at - start) / 2:
            for replica in REPLICAS:
                podman("kill", "--signal", "HUP", stack.container(replica), check=False)
            hangup_sent = True
            outcomes.note("SIGHUP to both replicas")
        time.sleep(0.5)


def failure_bursts(outcomes: Outcomes, gap: float = 5.0) -> list[tuple[float, float, str, int, str]]:
    """The failures as (first second, last second, kind, count, error): failures of one kind with the same
    error, each within ``gap`` seconds of the one before, are one burst (one outage, one killed replica)."""
    found = sorted((second, kind, error) for (_, kind), errors in outcomes.failures.items()
                   for second, error in errors)
    bursts: list[list] = []
    for second, kind, error in found:
        same = next((burst for burst in reversed(bursts) if burst[2] == kind and burst[4] == error), None)
        if same is not None and second - same[1] <= gap:
            same[1], same[3] = second, same[3] + 1
        else:
            bursts.append([second, second, kind, 1, error])
    return [tuple(burst) for burst in bursts]


def report(outcomes: Outcomes) -> int:
    minutes = sorted({minute for minute, _ in (*outcomes.latencies, *outcomes.failures)})
    print("\nminute | kind | requests | failed | p99 ms")
    failed_total = 0
    for minute in minutes:
        for kind in KINDS:
            latencies = outcomes.latencies.get((minute, kind), [])
            failures = outcomes.failures.get((minute, kind), [])
            failed_total += len(failures)
            p99 = f"{np.percentile(latencies, 99) * 1000:.0f}" if latencies else "-"
            print(f"{minute} | {kind} | {len(latencies) + len(failures)} | {len(failures)} | {p99}")
    # The replicas' RSS starts again from a fresh process after each kill; the front end's and the load
    # balancer's grow only if they leak.
    columns = " | ".join(f"{service} RSS MB" for service in SERVICES)
    print(f"\nminute | {columns} (the last row: the end)")
    for minute, sampled in sorted(outcomes.rss.items()):
        print(f"{minute} | " + " | ".join(f"{sampled[service]:.0f}" for service in SERVICES))
    first, last = outcomes.rss[min(outcomes.rss)], outcomes.rss[max(outcomes.rss)]
    print("RSS growth, start to end: " + ", ".join(
        f"{service} {last[service] - first[service]:+.0f} MB" for service in SERVICES))
    if failed_total:
        print(f"\n{failed_total} requests failed, in bursts (seconds from the start, as the events above):")
        for began, ended, kind, count, error in failure_bursts(outcomes):
            print(f"  +{began:.1f} to +{ended:.1f} s | {kind} | {count} | {error}")
    print(f"\nfailed requests: {failed_total}")
    return 1 if failed_total else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--publish-every", type=float, default=120.0)
    parser.add_argument("--kill-every", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=2, help="threads of each kind")
    parser.add_argument("--image", default="localhost/emnist-serving:slim")
    parser.add_argument("--haproxy-image", default="localhost/emnist-haproxy")
    parser.add_argument("--logs-dir", type=Path, help="write each container's whole log here at the end")
    args = parser.parse_args(argv)
    images, _ = load_split("validation")
    with tempfile.TemporaryDirectory(prefix="emnist-soak-") as folder:
        models = Path(folder) / "models"
        (models / "emnist").mkdir(parents=True)
        shutil.copytree(REPO / "models" / "emnist" / "3", models / "emnist" / "1")
        for path in (models, *models.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        stack = ComposeStack(args.image, args.haproxy_image, models, Path(folder)).up()
        try:
            stack.wait_ready()
            outcomes = Outcomes()
            stop_at = outcomes.started + args.duration
            threads = [threading.Thread(target=client, args=(kind, stack, images[index], outcomes, stop_at))
                       for index, kind in enumerate(kind for kind in KINDS for _ in range(args.clients))]
            threads.append(threading.Thread(target=events, args=(stack, args, outcomes, stop_at)))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=args.duration + 120)
            outcomes.rss[max(outcomes.rss, default=-1) + 1] = {service: rss_mb(stack, service)
                                                                  for service in SERVICES}
            for service in SERVICES:
                state = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
                               stack.container(service), check=False).stdout.split()
                if state[:1] != ["running"]:
                    print(f"{service} is not running at the end: {' exit code '.join(state)}\n"
                          f"{stack.logs(service)[-1500:]}")
        finally:
            if args.logs_dir:
                args.logs_dir.mkdir(parents=True, exist_ok=True)
                for service in SERVICES:
                    (args.logs_dir / f"{service}.log").write_text(stack.logs(service, last_chars=None))
            stack.down()
    return report(outcomes)


if __name__ == "__main__":
    sys.exit(main())
