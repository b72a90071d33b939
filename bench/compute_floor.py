"""The compute floor: the engine in-process, no HTTP, with the app's own engine settings.

``python bench/compute_floor.py --engine onnxruntime --duration 2`` prints one JSON line: images/s for
batch 1 and batch 128 from one calling thread and from two (as two gunicorn workers would run on this
2-core machine), and the process CPU time per call. ``bench/run_bench.py`` divides the served figures
by these.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np
from engine_setup import configure_app, engine_parser  # bench/ is the script's folder


def images_per_second(predict, batch: np.ndarray, threads: int, duration: float) -> tuple[float, float]:
    """Closed loop of ``predict(batch)`` on ``threads`` threads for ``duration`` seconds.

    Returns (images/s, process CPU microseconds per call): the second is what a served request's CPU
    is compared with, since CPU time moves far less than throughput when the machine is shared.
    """
    counts = [0] * threads
    deadline = time.perf_counter() + duration

    def loop(slot: int) -> None:
        while time.perf_counter() < deadline:
            predict(batch)
            counts[slot] += 1

    started, cpu_started = time.perf_counter(), time.process_time()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    calls = max(1, sum(counts))
    cpu_us = (time.process_time() - cpu_started) / calls * 1e6
    return sum(counts) * len(batch) / (time.perf_counter() - started), cpu_us


def main() -> int:
    parser = engine_parser(__doc__)
    parser.add_argument("--duration", type=float, default=2.0)
    args = parser.parse_args()
    configure_app(args)
    from model_tools.data.datasets import load_split, to_model_input
    from webapp import create_app

    # The engine exactly as the app opens it (same settings, same thread options), without HTTP.
    app = create_app()
    core = app.extensions["serving_core"]
    with core.manager.acquire(args.model_name) as servable:
        engine = servable.engine
    figures = {"engine": args.engine, "version": servable.version}
    images, _ = load_split("validation")
    batches = {1: to_model_input(images[:1]), 128: to_model_input(images[:128])}
    for batch in batches.values():
        for _ in range(20):
            engine.predict(batch)
    for size, batch in batches.items():
        for threads in (1, 2):
            rate, cpu_us = images_per_second(engine.predict, batch, threads, args.duration)
            figures[f"b{size}_t{threads}_images_per_s"] = rate
            figures[f"b{size}_t{threads}_cpu_us_per_call"] = cpu_us
    core.stop()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
