"""The whole model server in one command: REST (gunicorn) and gRPC (worker processes), like TF Serving's
``tensorflow_model_server --port=8500 --rest_api_port=8501``.

``python -m webapp.model_server`` (or the ``emnist-model-server`` script) forks the gRPC workers first
(``webapp.grpc.workers``: nothing gRPC or TensorFlow exists in this launcher), then starts gunicorn with the
package's settings (``webapp/gunicorn_conf.py``) and ``webapp.wsgi:app``, so an installed server needs no
checkout. Settings come from ``EMNIST_*`` variables as everywhere; the flags override the ports and the
host. ``--port 0`` switches gRPC off, ``--rest_api_port 0`` REST. With ``MODEL_SERVER`` set the app is a
front end that does no inference, so only REST starts.

Once the default model answers it prints where to open the server (``webapp.announce``); other libraries'
start-up noise (TensorFlow's C++ log, deprecation warnings) is silenced unless ``--verbose``
(``EMNIST_VERBOSE``; ``webapp.third_party_noise``).

SIGTERM drains both (docs/operations.md): readiness turns NOT_SERVING at once, connections are still taken
for ``DRAIN_SECONDS``, then refused, and requests in flight finish; the launcher exits 0 once every process
has. Ctrl-C (SIGINT) stops without the drain. SIGHUP is passed on (config file re-read, gunicorn workers
reloaded).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from serving_core import metrics
from webapp.announce import Announcer, grpc_line
from webapp.log_format import configure_logging
from webapp.settings import Settings, SettingsError, load_settings
from webapp.third_party_noise import quiet_third_party

log = logging.getLogger("model_server")

#: The folder holding this package (a checkout, or site-packages): gunicorn runs there and imports it first.
REPO_ROOT = Path(__file__).resolve().parent.parent
#: gunicorn's settings and the WSGI app, from the package: an installed server has no checkout around it.
GUNICORN_CONFIG = "python:webapp.gunicorn_conf"
WSGI_APP = "webapp.wsgi:app"
GUNICORN_STOP_SECONDS = 45  # gunicorn.conf.py's graceful_timeout (the drain included), plus unloading
#: How soon a signal is acted on (passed to gunicorn and the gRPC workers, which then turn not ready).
POLL_SECONDS = 0.1


def port_number(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 0 and 65535, got {port}")
    return port


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="emnist-model-server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", help="address both servers listen on (default: EMNIST_GRPC_HOST, "
                        "127.0.0.1)")
    parser.add_argument("--port", type=port_number,
                        help="gRPC port (default: EMNIST_GRPC_PORT, 8500; 0: no gRPC)")
    parser.add_argument("--rest_api_port", type=port_number,
                        help="REST port (default: GUNICORN_BIND's, else 8000; 0: no REST)")
    parser.add_argument("--grpc_workers", type=int, help="gRPC processes (default: EMNIST_GRPC_WORKERS; 0: "
                        "one per core)")
    parser.add_argument("--verbose", action="store_true", default=None,
                        help="show other libraries' start-up log and warnings (default: EMNIST_VERBOSE)")
    return parser.parse_args(argv)


def rest_bind(host: str | None, port: int | None, configured: str) -> str | None:
    """gunicorn's ``--bind`` for the options given: each of host and port given on the command line wins,
    the other comes from the ``GUNICORN_BIND`` setting (``configured``); neither: no ``--bind``, so
    gunicorn.conf.py takes ``GUNICORN_BIND`` itself."""
    if host is None and port is None:
        return None
    if configured.startswith(("unix:", "fd://")):
        configured = ""
    default_host, _, default_port = configured.rpartition(":")
    host = host if host is not None else default_host.strip("[]") or "127.0.0.1"
    port = port if port is not None else int(default_port or 8000)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def rest_command(bind: str | None) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG]
    if bind is not None:
        command += ["--bind", bind]
    return [*command, WSGI_APP]


class _Signals:
    """Signals become flags the main loop acts on (no work inside a handler)."""

    def __init__(self) -> None:
        self.stop = False
        self.hangups = 0
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hangup)

    def _on_stop(self, signum: int, _frame: object) -> None:
        self.stop = True

    def _on_hangup(self, signum: int, _frame: object) -> None:
        self.hangups += 1


def say(line: str) -> None:
    """A line for the person who started the server, on standard output (the log is on standard error)."""
    print(line, flush=True)


def _ignore_hangups() -> None:
    """In gunicorn's process before it runs: SIGHUP ignored until its arbiter installs its own handler (its
    first second or two), so a SIGHUP passed on during the start does not kill it (the default action)."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def serve(settings: Settings, host: str, grpc_port: int, rest_port: int | None, rest_at: str | None) -> int:
    """Run until a signal or a failure; 0 after a clean stop."""
    if settings["MODEL_SERVER"] and grpc_port:
        log.info("MODEL_SERVER is set: this server is a front end to %s; no gRPC model server started",
                 settings["MODEL_SERVER"])
        grpc_port = 0
    if not grpc_port and rest_port == 0:
        log.error("nothing to serve: REST is switched off (--rest_api_port 0) and gRPC is %s",
                  "not started with MODEL_SERVER set" if settings["MODEL_SERVER"] else "too (--port 0)")
        return 2
    signals = _Signals()
    # Made before any worker starts, so that every process (gRPC workers, gunicorn's) writes to it.
    metrics_dir = metrics.create_multiprocess_dir() if settings["METRICS"] else None
    try:
        return _serve(settings, host, grpc_port, rest_port, rest_at, signals)
    finally:
        metrics.remove_multiprocess_dir(metrics_dir)


def _serve(settings: Settings, host: str, grpc_port: int, rest_port: int | None, rest_at: str | None,
           signals: _Signals) -> int:
    from webapp.grpc.workers import GrpcWorkers, PortInUseError

    workers = None
    if grpc_port:
        try:
            workers = GrpcWorkers(settings, host, grpc_port, settings.grpc_workers)
        except PortInUseError as exc:
            log.error("%s", exc)
            return 1
        workers.start()
    rest = announcer = None
    if rest_port != 0:
        rest = subprocess.Popen(rest_command(rest_at), cwd=REPO_ROOT, preexec_fn=_ignore_hangups)
        announcer = Announcer(rest_at or settings["GUNICORN_BIND"], say)
        announcer.start()
    failure = ""
    hangups = 0
    announced_grpc = False
    while not signals.stop and not failure:
        if workers is not None:
            workers.poll(POLL_SECONDS)
            if signals.stop:  # a worker that exited on the same signal is not replaced
                break
            workers.restart_exited()
            failure = workers.failed
            if not announced_grpc and workers.all_started:
                announced_grpc = True
                say(grpc_line(workers.address) if rest is not None else
                    f"serving model {settings['MODEL_NAME']} version {workers.version or '(none yet)'} over "
                    f"{grpc_line(workers.address)}")
        else:
            time.sleep(POLL_SECONDS)
        if rest is not None and rest.poll() is not None:
            failure = f"gunicorn exited with code {rest.returncode}"
        if signals.hangups != hangups:
            hangups = signals.hangups
            if workers is not None:
                workers.signal(signal.SIGHUP)
            if rest is not None:
                rest.send_signal(signal.SIGHUP)
    if announcer is not None:
        announcer.stop()
    if failure:
        log.error("stopping the model server: %s", failure)
    else:
        log.info("stopping the model server")
    if rest is not None and rest.poll() is None:
        rest.send_signal(signal.SIGTERM)
    if workers is not None:
        workers.stop()
    if rest is not None:
        try:
            rest.wait(GUNICORN_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            rest.kill()
            rest.wait()
    return 1 if failure else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("plain")
    overrides = {key: value for key, value in (
        ("GRPC_HOST", args.host), ("GRPC_PORT", args.port), ("GRPC_WORKERS", args.grpc_workers),
        ("VERBOSE", args.verbose),
    ) if value is not None}
    try:
        settings, _ = load_settings(overrides)
    except SettingsError as exc:
        log.error("%s", exc)
        return 2
    configure_logging(settings["LOG_FORMAT"])  # the gRPC workers inherit it
    if args.verbose:
        os.environ["EMNIST_VERBOSE"] = "1"  # gunicorn's workers read it too
    quiet_third_party(settings["VERBOSE"])  # before anything imports TensorFlow: workers inherit it
    rest_at = rest_bind(args.host, args.rest_api_port, settings["GUNICORN_BIND"])
    return serve(settings, settings["GRPC_HOST"], settings["GRPC_PORT"], args.rest_api_port, rest_at)


if __name__ == "__main__":
    sys.exit(main())
