"""Requests/s through one front end with two model-server replicas behind it, then one (compose.yaml).

    .venv/bin/python bench/scale_out.py [--duration 10] [--concurrency 8]

Starts compose.yaml's stack (podman-compose; the images built first: `make images`, or the container
tests) on the repository's models folder, loads TF Serving's REST :predict through the load balancer and
the front end with wrk (batch 1 and batch 128 JSON, real validation images), then stops one replica, waits
until the load balancer has taken it out, and loads again. Prints one line per cell and replica count.
Figures go in docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_bodies import write_bodies
from bench.bench_loads import run_wrk
from bench.compose_stack import REPLICAS, ComposeStack
from bench.containers import REPO, podman

CELLS = (("b1_json", 1), ("b128_json", 128))


def measure(stack: ComposeStack, bodies: dict, duration: float, concurrency: int, replicas: int) -> None:
    url = stack.url("/v1/models/emnist:predict")
    for name, batch in CELLS:
        body, content_type = bodies[name]
        result = run_wrk(url, body, content_type, concurrency, duration)
        print(f"replicas={replicas} batch={batch} c={concurrency}: {result['requests_per_s']:.0f} req/s "
              f"({result['requests_per_s'] * batch:.0f} images/s), p50 {result['latency_ms']['p50']:.1f} ms, "
              f"p99 {result['latency_ms']['p99']:.1f} ms, errors {result['errors']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="localhost/emnist-serving:slim")
    parser.add_argument("--haproxy-image", default="localhost/emnist-haproxy")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="emnist-scale-out-") as folder:
        bodies = write_bodies(Path(folder), seed=0)
        stack = ComposeStack(args.image, args.haproxy_image, REPO / "models", Path(folder)).up()
        try:
            stack.wait_ready()
            measure(stack, bodies, args.duration, args.concurrency, 2)
            podman("stop", "--time", "30", stack.container(REPLICAS[1]), timeout=90)
            time.sleep(3)  # the load balancer's checks (1 s apart, 2 failures) take it out
            measure(stack, bodies, args.duration, args.concurrency, 1)
        finally:
            stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
