"""The app's own CPU per request in two checkouts: the WSGI app called in-process, in alternating rounds.

``compare_checkouts.py`` measures what a request costs a served gunicorn process (sockets, the event
loop, thread hand-offs and the app together). This script takes the server away: one long-lived process
per checkout builds the app as a gunicorn worker does (``wsgi.py``: settings, ``create_app()``, the
engine), warms it up, then on each round calls it ``--requests`` times with the same body from one
thread and reports the process CPU per call. The rounds alternate which checkout goes first, so other load
hits both alike; a difference that shows here is the app's, one that shows only under gunicorn is the
server's. ``--model reference`` (the small DNN) keeps the model's share of each call small.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/compare_app_cpu.py --before /tmp/before --after . --rounds 10

Figures are printed, never asserted; ``--quick`` is a short smoke run (the tests run it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_bodies import write_bodies

#: The routes compared: TF Serving's one-image :predict (JSON) and the page's JSON /predict (an .npy body).
CASES = {
    "b1_json_predict": ("b1_json", "/v1/models/{model}:predict"),
    "b128_npy_predict": ("b128_npy", "/predict"),
}

#: What each checkout's process runs: build the app, then answer "N" lines with CPU microseconds per call.
WORKER = r"""
import io, sys, time
from wsgi import app
route, body_path, content_type = sys.argv[1:4]
body = open(body_path, "rb").read()
statuses = []

def call():
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": route, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
               "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr}
    answer = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(answer)
    getattr(answer, "close", lambda: None)()

for _ in range(200):
    call()
if not statuses[-1].startswith("200"):
    sys.exit(f"the warm-up was answered {statuses[-1]}")
print("ready", flush=True)
for line in sys.stdin:
    count = int(line)
    started = time.process_time()
    for _ in range(count):
        call()
    print((time.process_time() - started) / count * 1e6, flush=True)
"""


class CheckoutApp:
    """One checkout's app in a process of its own, called on demand."""

    def __init__(self, label: str, checkout: Path, env: dict[str, str], route: str,
                 body: tuple[Path, str]) -> None:
        self.label = label
        path, content_type = body
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, route, str(path), content_type], cwd=checkout,
            env={**env, "PYTHONPATH": str(checkout)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if line != "ready":
            self.process.kill()
            raise RuntimeError(f"{label}: the app did not start: {line} {self.process.stderr.read()[-800:]}")

    def cpu_per_call(self, requests: int) -> float:
        self.process.stdin.write(f"{requests}\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.kill()
        self.process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the checkout to compare against")
    parser.add_argument("--after", type=Path, default=Path("."), help="the changed checkout (default: .)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds per case (default 10)")
    parser.add_argument("--requests", type=int, default=2000, help="calls per round (default 2000)")
    parser.add_argument("--engine", default="onnxruntime", help="EMNIST_ENGINE of both apps")
    parser.add_argument("--model", default="reference", help="model name served from models/")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 50 calls (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.requests = 2, 50
    env = {**os.environ, "EMNIST_ENGINE": args.engine, "EMNIST_MODEL_NAME": args.model,
           "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0", "EMNIST_ENABLE_BATCHING": "0", "OMP_NUM_THREADS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    print(f"{os.cpu_count()} cores, engine {args.engine}, model {args.model}; the app's CPU per call (us), "
          f"{args.rounds} alternating rounds of {args.requests}")
    print("| case | before (median, range) | after (median, range) | after/before |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="compare-app-cpu-") as folder:
        bodies = write_bodies(Path(folder), 0)
        for name in args.cases.split(","):
            body, route = CASES[name]
            route = route.format(model=args.model)
            apps = [CheckoutApp(label, checkout.resolve(), env, route, bodies[body])
                    for label, checkout in (("before", args.before), ("after", args.after))]
            try:
                figures: dict[str, list[float]] = {app.label: [] for app in apps}
                for round_ in range(args.rounds):
                    for app in apps if round_ % 2 == 0 else apps[::-1]:
                        figures[app.label].append(app.cpu_per_call(args.requests))
            finally:
                for app in apps:
                    app.stop()
            before, after = (statistics.median(figures[label]) for label in ("before", "after"))
            print(f"| {name} | {before:,.1f} ({min(figures['before']):,.1f}-{max(figures['before']):,.1f}) | "
                  f"{after:,.1f} ({min(figures['after']):,.1f}-{max(figures['after']):,.1f}) | "
                  f"{after / before:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
