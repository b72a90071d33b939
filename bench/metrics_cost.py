"""What the metrics cost: one-image requests at c=8 with EMNIST_METRICS on and off, in the same run.

Two gunicorn servers with the repository's config (onnxruntime, one worker per core, the access log
off as by default) are started side by side, the same except for ``EMNIST_METRICS``; wrk then loads
them in alternating rounds (on, off, then off, on...) so that both see the same machine state, and the median
requests/s of each is printed with their ratio. With metrics on, gunicorn's master makes the
multiprocess folder, so the cost measured is the production one (the values written to shared files).

Requests/s on a shared machine move with everything else running, so each round also reports the
servers' CPU per request (all their processes' user+system seconds over the round's answers), and a
third figure isolates the observation itself: the HTTP observation layer and the metrics of one
fast-path request, timed in a fresh process around a WSGI app that does only what a route does for them
(name the call, hand over the core's request, record the model call), with the multiprocess files on
and with metrics off.

Figures are printed (``--json`` writes them too), never asserted: on a shared machine they are noisy.
``python -m bench.metrics_cost --rounds 4 --seconds 5``; ``--quick`` is a short run (the tests run it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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
        cpu: dict[str, list[float]] = {name: [] for name in servers}
        for index in range(rounds):
            order = list(servers) if index % 2 == 0 else list(reversed(servers))  # on-off, off-on, ...
            for name in order:
                server = servers[name]
                used = server.cpu_seconds()
                result = load(server, body, content_type, seconds, client)
                used = server.cpu_seconds() - used
                if result["errors"]:
                    raise RuntimeError(f"metrics {name}: {result['errors']} errors: {server.log_tail()}")
                runs[name].append(result["requests_per_s"])
                cpu[name].append(used / max(1, result["requests"]) * 1e6)
    finally:
        for server in servers.values():
            server.stop()
    medians = {name: statistics.median(values) for name, values in runs.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    return {
        "cell": f"1 image JSON, c={CONCURRENCY}, TF Serving's :predict",
        "client": client,
        "rounds": rounds,
        "seconds_per_round": seconds,
        "requests_per_s": runs,
        "median_requests_per_s": medians,
        "on_over_off": medians["on"] / medians["off"],
        "server_cpu_us_per_request": cpu,
        "median_server_cpu_us_per_request": cpu_medians,
    }


def observation_cost(mode: str, requests: int) -> float:
    """CPU microseconds per request of the HTTP observation with metrics ``mode`` (on: the multiprocess files,
    as under gunicorn; off: EMNIST_METRICS=0), in a fresh process (prometheus_client reads its folder at
    import)."""
    with tempfile.TemporaryDirectory(prefix="metrics-cost-files-") as files:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if mode == "on":
            env["PROMETHEUS_MULTIPROC_DIR"] = files
        command = [sys.executable, __file__, "--observe-only", mode, "--requests", str(requests)]
        output = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=True)
    return float(output.stdout.strip())


def _time_observation(mode: str, requests: int) -> float:
    """The loop ``observation_cost`` runs: one fast-path request's observation, ``requests`` times."""
    import numpy as np

    from serving_core import metrics
    from serving_core.observation import note_call, note_inference
    from serving_core.payloads.limits import ServerLimits
    from serving_core.request import InferenceRequest, ModelSpec
    from webapp.http.observe import ObserveRequests
    from webapp.request_outcome import RequestOutcomes

    recorder = metrics.enable() if mode == "on" else None
    budget = ServerLimits(max_instances=1, max_image_pixels=0).budget()
    images = np.zeros((1, 784), np.float32)
    answer = [b"{}" * 400]

    def route(environ: dict, start_response: Any) -> list[bytes]:
        note_call("tfserving-rest", "/v1/models/<model:name>:predict")
        request = InferenceRequest(ModelSpec(MODEL), images, budget, "tfserving-rest",
                                   "/v1/models/<model:name>:predict", "bench")
        note_inference(request)
        request.served_version, request.images = 1, 1
        current = metrics.active()
        if current is not None:
            current.runtime(MODEL, "Predict", "onnxruntime", 0.0004)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "800")])
        return answer

    app = ObserveRequests(route, RequestOutcomes(recorder, False))
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": f"/v1/models/{MODEL}:predict"}
    for _ in range(1000):
        app(dict(environ), lambda status, headers: None)
    started = time.process_time()  # this process's CPU: what other programs run meanwhile does not count
    for _ in range(requests):
        app(dict(environ), lambda status, headers: None)
    return (time.process_time() - started) / requests * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="rounds on each server (alternating)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--client", choices=("wrk", "python"),
                        default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--quick", action="store_true", help="two short rounds (the tests run it)")
    parser.add_argument("--requests", type=int, default=50_000, help="requests of the observation timing")
    parser.add_argument("--observe-only", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.observe_only:
        print(_time_observation(args.observe_only, args.requests))
        return 0
    rounds, seconds = (2, 1.0) if args.quick else (args.rounds, args.seconds)
    requests = 2000 if args.quick else args.requests
    with tempfile.TemporaryDirectory(prefix="metrics-cost-") as folder:
        report = measure(rounds, seconds, args.client, Path(folder))
    timings: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(3):  # alternating, the least of each kept: the machine's noise only ever adds
        for mode in timings:
            timings[mode].append(observation_cost(mode, requests))
    report["observation_us_per_request"] = {mode: min(values) for mode, values in timings.items()}
    medians, cpu = report["median_requests_per_s"], report["median_server_cpu_us_per_request"]
    print(f"{report['cell']} ({report['client']}, {rounds} rounds of {seconds:g} s each, "
          "in the order on off off on ...)")
    for name in ("on", "off"):
        rounds_text = ", ".join(f"{value:.0f}" for value in report["requests_per_s"][name])
        print(f"  metrics {name:3}: median {medians[name]:.0f} requests/s, {cpu[name]:.0f} us of server CPU "
              f"per request  (rounds: {rounds_text})")
    print(f"  on / off: {report['on_over_off']:.3f} requests/s, {cpu['on'] / cpu['off']:.3f} CPU per request")
    observed = report["observation_us_per_request"]
    print(f"observation of one fast-path request (CPU, least of 3 x {requests}): metrics on "
          f"{observed['on']:.1f} us, off {observed['off']:.1f} us")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
