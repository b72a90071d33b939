"""What a version switch costs the clients: publish version 2 under load and time the hand-over.

    .venv/bin/python bench/hot_reload.py --engine onnxruntime
    .venv/bin/python bench/hot_reload.py --engine tensorflow --model-dir models/reference/1

Copies ``--model-dir`` as version 1 of a temporary model, serves it through the serving core with
``--threads`` client threads (batch of ``--batch`` real validation images per request), publishes the same
folder as version 2 (copy to a dot-prefixed folder, then rename, as the converter does) and prints: time
from the rename to the first answer by version 2 (poll wait + load + warmup), time until version 1 is
unloaded, failed requests, and request latency before and during the switch.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from model_tools.data.datasets import load_split
from serving_core.server_core import ServerCore
from webapp.settings import load_settings

REPO = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=REPO / "models" / "reference" / "1")
    parser.add_argument("--engine", choices=("onnxruntime", "tensorflow"), default="onnxruntime")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--poll", type=float, default=1.0, help="FILE_SYSTEM_POLL_SECONDS")
    parser.add_argument("--steady", type=float, default=2.0, help="seconds of load before publishing")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not (args.model_dir / "saved_model.pb").is_file() and not (args.model_dir / "model.onnx").is_file():
        print(f"error: {args.model_dir} is not a model version folder", file=sys.stderr)
        return 2

    images, _ = load_split("validation")
    batch = (images[: args.batch].reshape(args.batch, -1) / 255.0).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "emnist"
        shutil.copytree(args.model_dir, base / "1")
        settings, _ = load_settings(
            {"MODEL_BASE_PATH": str(base), "MODEL_NAME": "emnist", "ENGINE": args.engine,
             "FILE_SYSTEM_POLL_SECONDS": args.poll, "MODEL_RELOAD_ON_SIGHUP": False},
            environ={},
        )
        core = ServerCore(settings.core_options())
        started = time.perf_counter()
        core.start()
        print(f"engine {args.engine}: version 1 loaded in {time.perf_counter() - started:.2f} s")

        stop = threading.Event()
        records: list[tuple[float, float, int]] = []  # (start, latency, version)
        failures: list[str] = []
        lock = threading.Lock()

        def client() -> None:
            while not stop.is_set():
                begin = time.perf_counter()
                try:
                    with core.manager.acquire("emnist") as servable:
                        servable.engine.predict(batch)
                        version = servable.version
                except Exception as exc:
                    with lock:
                        failures.append(repr(exc))
                    continue
                with lock:
                    records.append((begin, time.perf_counter() - begin, version))

        threads = [threading.Thread(target=client, daemon=True) for _ in range(args.threads)]
        for thread in threads:
            thread.start()
        time.sleep(args.steady)

        staging = base / ".2.staging"
        shutil.copytree(args.model_dir, staging)
        published = time.perf_counter()
        os.rename(staging, base / "2")
        first_v2 = v1_end = None
        deadline = published + 120
        while time.perf_counter() < deadline and (first_v2 is None or v1_end is None):
            with lock:
                if first_v2 is None:
                    first_v2 = next((start for start, _, v in records if v == 2), None)
            states = {s["version"]: s["state"] for s in core.manager.status("emnist")}
            if v1_end is None and states.get("1") == "END":
                v1_end = time.perf_counter()
            time.sleep(0.005)
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join()
        core.stop()

    steady = [latency * 1000 for start, latency, _ in records if start < published]
    window_end = (v1_end or published) + 0.2
    during = [latency * 1000 for start, latency, _ in records if published <= start <= window_end]
    print(f"clients: {args.threads} threads, batch {args.batch}, poll every {args.poll} s")
    print(f"requests: {len(records)} answered, {len(failures)} failed")
    if first_v2 is not None:
        print(f"first answer by version 2: {first_v2 - published:.2f} s after the rename")
    if v1_end is not None:
        print(f"version 1 unloaded (END): {v1_end - published:.2f} s after the rename")
    print(f"latency ms before switch: p50 {statistics.median(steady):.2f}  p99 {percentile(steady, 99):.2f}"
          f"  ({len(steady)} requests)")
    if during:
        print(f"latency ms during switch: p50 {statistics.median(during):.2f}"
              f"  p99 {percentile(during, 99):.2f}  max {max(during):.2f}  ({len(during)} requests)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
