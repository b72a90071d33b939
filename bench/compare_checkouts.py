"""Server CPU per request of two checkouts (two commits), measured in alternating rounds.

A change's cost to the server is a difference of a few percent, smaller than what a shared or busy machine
does to two benchmark runs made one after the other. This script starts both checkouts' gunicorn servers at
once (the same worker count, engine and model), then loads them in turns, round by round, swapping the order
every round, with a fixed number of requests (h2load, HTTP/1.1 keep-alive). Whatever else the machine does
hits both alike; the ratio of the medians is the change's cost.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/compare_checkouts.py --before /tmp/before --after . --rounds 6

Each checkout runs its own code (``PYTHONPATH``, ``--chdir``) with this interpreter, so both need the
packages of this environment.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_bodies import write_bodies
from bench.bench_servers import free_port, stop_process_group, tree_cpu_seconds


@dataclass(frozen=True)
class Case:
    """A load: which body, to which route, how many requests on how many connections."""

    name: str
    body: str
    route: str
    requests: int
    connections: int


CASES = {
    case.name: case
    for case in (
        Case("b1_json_c1", "b1_json", ":predict", 3000, 1),
        Case("b1_json_c8", "b1_json", ":predict", 3000, 8),
        Case("b128_json_c8", "b128_json", ":predict", 200, 8),
        Case("b128_npy_c8", "b128_npy", "/predict", 300, 8),
        Case("b1_predict_c1", "b1_json", "/predict", 2000, 1),
    )
}


class CheckoutServer:
    """gunicorn of one checkout (its gunicorn.conf.py and wsgi:app), on a free loopback port."""

    def __init__(self, label: str, checkout: Path, env: dict[str, str], log: Path) -> None:
        self.label = label
        self.port = free_port()
        self.log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(checkout / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{self.port}", "--chdir", str(checkout), "wsgi:app"],
            cwd=checkout, env={**env, "PYTHONPATH": str(checkout)}, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def url(self, route: str, model: str) -> str:
        path = f"/v1/models/{model}{route}" if route.startswith(":") else route
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, model: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label}: gunicorn exited with {self.process.returncode}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models/{model}", timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"{self.label}: not ready after {timeout:.0f} s")

    def stop(self) -> None:
        stop_process_group(self.process)
        self.log.close()


def load(server: CheckoutServer, case: Case, body: tuple[Path, str], model: str) -> float:
    """Server CPU microseconds per request of one load of ``case``; every answer must be a 200."""
    path, content_type = body
    before = tree_cpu_seconds(server.process.pid)
    result = subprocess.run(
        ["h2load", "--h1", "-n", str(case.requests), "-c", str(case.connections), "-d", str(path),
         "-H", f"content-type: {content_type}", server.url(case.route, model)],
        capture_output=True, text=True, check=False)
    used = tree_cpu_seconds(server.process.pid) - before
    expected = f"{case.requests} 2xx, 0 3xx, 0 4xx, 0 5xx"
    if expected not in result.stdout:
        raise RuntimeError(f"{server.label} {case.name}: not every answer was a 200:\n{result.stdout[-600:]}")
    return used / case.requests * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the checkout to compare against")
    parser.add_argument("--after", type=Path, default=Path("."), help="the changed checkout (default: .)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds per case (default 6)")
    parser.add_argument("--engine", default="onnxruntime", help="EMNIST_ENGINE of both servers")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers of each server (default 1)")
    parser.add_argument("--model", default="emnist", help="model name served from models/")
    parser.add_argument("--seed", type=int, default=0, help="seed of the images in the bodies")
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests, 2 rounds (smoke run)")
    parser.add_argument("--after-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable of the after server only (a setting the older "
                             "checkout does not know and would refuse); repeatable")
    args = parser.parse_args(argv)
    cases = [CASES[name] for name in args.cases.split(",")]
    if args.quick:
        cases = [replace(case, requests=max(case.requests // 10, case.connections)) for case in cases]
        args.rounds = min(args.rounds, 2)
    env = {**os.environ, "EMNIST_ENGINE": args.engine, "EMNIST_MODEL_NAME": args.model,
           "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0", "EMNIST_ENABLE_BATCHING": "0",
           "WEB_CONCURRENCY": str(args.workers), "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory(prefix="compare-checkouts-") as folder:
        bodies = write_bodies(Path(folder), args.seed)
        after_env = {**env, **dict(item.split("=", 1) for item in args.after_env)}
        servers = [CheckoutServer(label, checkout.resolve(), server_env, Path(folder) / f"{label}.log")
                   for label, checkout, server_env in (("before", args.before, env),
                                                       ("after", args.after, after_env))]
        try:
            for server in servers:
                server.wait_ready(args.model, 240)
            print(f"{os.cpu_count()} cores, {args.workers} worker(s) each, engine {args.engine}; server CPU "
                  f"per request (us), {args.rounds} alternating rounds")
            print("| case | before (median, range) | after (median, range) | after/before |")
            print("|---|---|---|---|")
            for case in cases:
                for server in servers:  # one unmeasured load each
                    load(server, case, bodies[case.body], args.model)
                figures: dict[str, list[float]] = {server.label: [] for server in servers}
                for round_ in range(args.rounds):
                    for server in servers if round_ % 2 == 0 else servers[::-1]:
                        figures[server.label].append(load(server, case, bodies[case.body], args.model))
                before, after = (statistics.median(figures[label]) for label in ("before", "after"))
                print(f"| {case.name} | {before:,.0f} ({min(figures['before']):,.0f}-"
                      f"{max(figures['before']):,.0f}) | {after:,.0f} ({min(figures['after']):,.0f}-"
                      f"{max(figures['after']):,.0f}) | {after / before:.2f} |", flush=True)
        finally:
            for server in servers:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
