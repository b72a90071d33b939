"""What the metrics cost: one-image requests at c=8 with EMNIST_METRICS on and off, in the same run.

Two gunicorn servers with the repository's config (onnxruntime, one worker per core, the access log
off as by default) are started side by side, the same except for ``EMNIST_METRICS``; wrk then loads
them in alternating rounds (on, off, on, off...) so that both see the same machine state, and the median
requests/s of each is printed with their ratio. With metrics on, gunicorn's master makes the
multiprocess folder, so the cost measured is the production one (the values written to shared files).

Figures are printed (``--json`` writes them too), never asserted: on a shared machine they are noisy.
``python -m bench.metrics_cost --rounds 4 --seconds 5``; ``--quick`` is a short run (the tests run it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.bench_bodies import write_bodies
from bench.bench_loads import run_python_client, run_wrk
from bench.bench_servers import SERVERS, RunningServer

MODEL = "emnist"
CONCURRENCY = 8
START_SECONDS = 120.0


def load(server: RunningServer, body: Path, content_type: str, seconds: float, client: str) -> dict[str, Any]:
    if client == "wrk":
        return run_wrk(server.url, body, content_type, CONCURRENCY, seconds)
    return run_python_client(server.url, body, content_type, CONCURRENCY, 1, seconds)


def measure(rounds: int, seconds: float, client: str, folder: Path) -> dict[str, Any]:
    """Alternating rounds on both servers: every round's requests/s, the medians and their ratio."""
    body, content_type = write_bodies(folder, seed=0)["b1_json"]
    servers: dict[str, RunningServer] = {}
    try:
        for name, value in (("on", "1"), ("off", "0")):
            servers[name] = RunningServer(SERVERS["onnxruntime"], MODEL, folder / f"metrics-{name}.log",
                                          {"EMNIST_METRICS": value, "EMNIST_ACCESS_LOG": "0"})
        for server in servers.values():
            server.wait_first_answer(body.read_bytes(), content_type, START_SECONDS)
        for server in servers.values():  # warm every worker up before anything counts
            load(server, body, content_type, 1.0, client)
        runs: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(rounds):
            for name, server in servers.items():
                result = load(server, body, content_type, seconds, client)
                if result["errors"]:
                    raise RuntimeError(f"metrics {name}: {result['errors']} errors: {server.log_tail()}")
                runs[name].append(result["requests_per_s"])
    finally:
        for server in servers.values():
            server.stop()
    medians = {name: statistics.median(values) for name, values in runs.items()}
    return {
        "cell": f"1 image JSON, c={CONCURRENCY}, TF Serving's :predict",
        "client": client,
        "rounds": rounds,
        "seconds_per_round": seconds,
        "requests_per_s": runs,
        "median_requests_per_s": medians,
        "on_over_off": medians["on"] / medians["off"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="rounds on each server (alternating)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--client", choices=("wrk", "python"),
                        default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--quick", action="store_true", help="two short rounds (the tests run it)")
    args = parser.parse_args(argv)
    rounds, seconds = (2, 1.0) if args.quick else (args.rounds, args.seconds)
    with tempfile.TemporaryDirectory(prefix="metrics-cost-") as folder:
        report = measure(rounds, seconds, args.client, Path(folder))
    medians = report["median_requests_per_s"]
    print(f"{report['cell']} ({report['client']}, {rounds} rounds of {seconds:g} s, alternating)")
    for name in ("on", "off"):
        rounds_text = ", ".join(f"{value:.0f}" for value in report["requests_per_s"][name])
        print(f"  metrics {name:3}: median {medians[name]:.0f} requests/s  (rounds: {rounds_text})")
    print(f"  on / off: {report['on_over_off']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
