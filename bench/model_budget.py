"""The serving budget of candidate models: ONNX size, batch-128 compute and the RSS of a process serving it.

``python bench/model_budget.py models/emnist/3/model.onnx runs/x/model.onnx a.onnx+b.onnx`` prints one JSON
line per model and one with the ratios to the first (the baseline): its files' size in MB, the median ms of
a batch of 128 random images in onnxruntime with one intra-op thread (the medians of ``--rounds`` rounds
that take turns between the models, so a load change on the machine reaches all of them), and the peak
RSS of a fresh Python process that loads the model and runs one batch (its ``VmHWM``). ``a.onnx+b.onnx``
is an ensemble served as one model: its members run one after the other and their softmax is averaged.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BATCH = 128
PIXELS = 784


def open_model(spec: str):
    """A function running a batch through the model (an ensemble: the mean of its members' outputs)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    sessions = [ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
                for path in spec.split("+")]
    names = [session.get_inputs()[0].name for session in sessions]

    def predict(batch: np.ndarray) -> np.ndarray:
        outputs = [session.run(None, {name: batch})[0] for session, name in zip(sessions, names, strict=True)]
        return np.mean(outputs, axis=0)

    return predict


def batch_ms(predict, batch: np.ndarray, runs: int) -> float:
    """The median wall time of ``runs`` calls, in ms, after one call that warms the session up."""
    predict(batch)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        predict(batch)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def high_water_rss_mb() -> float:
    """This process's peak RSS in MB: VmHWM, which a new program starts afresh (``ru_maxrss`` keeps the
    peak of the process it was forked from)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")


def peak_rss_mb(spec: str) -> float:
    """Peak RSS (MB) of a fresh interpreter that loads ``spec`` and answers one batch."""
    completed = subprocess.run([sys.executable, __file__, "--rss-of", spec], capture_output=True, text=True,
                               check=True, timeout=300)
    return float(completed.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="ONNX files, or ensembles a.onnx+b.onnx; the first is the "
                                                   "baseline of the ratios")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=40, help="timed batches per model per round")
    parser.add_argument("--rss-of", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    batch = np.random.default_rng(0).random((BATCH, PIXELS), dtype=np.float32)
    if args.rss_of:  # the child process of peak_rss_mb
        open_model(args.rss_of)(batch)
        print(high_water_rss_mb())
        return 0
    if not args.models:
        parser.error("name at least one model")
    missing = [path for spec in args.models for path in spec.split("+") if not Path(path).is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    if args.rounds < 1 or args.runs < 1:
        parser.error("--rounds and --runs must be at least 1")
    models = {spec: open_model(spec) for spec in args.models}
    medians: dict[str, list[float]] = {spec: [] for spec in models}
    for _ in range(args.rounds):
        for spec, predict in models.items():
            medians[spec].append(batch_ms(predict, batch, args.runs))
    figures = {}
    for spec in models:
        figures[spec] = {
            "model": spec,
            "onnx_mb": round(sum(Path(p).stat().st_size for p in spec.split("+")) / 1e6, 2),
            "batch128_ms": [round(m, 1) for m in medians[spec]],
            "peak_rss_mb": round(peak_rss_mb(spec), 1),
        }
        print(json.dumps(figures[spec]))
    baseline = figures[args.models[0]]
    for spec, figure in list(figures.items())[1:]:
        ratios = [a / b for a, b in zip(figure["batch128_ms"], baseline["batch128_ms"], strict=True)]
        print(json.dumps({"model": spec, "against": baseline["model"],
                          "batch128_ratio": [round(min(ratios), 2), round(max(ratios), 2)],
                          "rss_ratio": round(figure["peak_rss_mb"] / baseline["peak_rss_mb"], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
