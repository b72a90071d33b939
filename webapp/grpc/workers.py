"""Several gRPC server processes on one port, as gRPC's own multiprocessing example runs them.

Why processes: the model call and protobuf work hold the GIL long enough that one process cannot use
both cores. Each worker is forked from a launcher that has created no gRPC object and loaded no model
(gRPC's C core and TensorFlow's thread pools do not survive a fork), then builds its own serving core
and gRPC server bound with ``SO_REUSEPORT``, so the kernel spreads connections over the workers.

The launcher (``GrpcWorkers``) holds the port reserved, restarts a worker that dies after it started
(one that fails to start stops the server: its error would only repeat), and relays a config reload
that one worker received (``HandleReloadConfigRequest``) to the others, and to workers it restarts
later, so that every process serves the same models. ``stop`` sends SIGTERM: each worker turns its health
NOT_SERVING, serves on for ``DRAIN_SECONDS``, then stops taking RPCs (``GrpcServer.stop``), lets those in
flight finish within ``GRPC_GRACE_SECONDS`` and unloads its models. SIGINT (Ctrl-C) skips the drain.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import struct
import threading
import time
from multiprocessing.connection import Connection, wait
from typing import Any

from serving_core import metrics
from serving_core.request import ModelSpec
from webapp.settings import Settings

log = logging.getLogger(__name__)

STARTED, RELOAD = b"S", b"R"
_HANDLED_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
RESTARTS_PER_MINUTE = 5
_PR_SET_PDEATHSIG = 1


class PortInUseError(OSError):
    """Another process listens on the gRPC port."""


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to ``host:port`` with SO_REUSEPORT, held while the workers run.

    First a plain bind: it fails when anything already listens there, even a gRPC server of another
    program (gRPC sets SO_REUSEPORT by default, and would otherwise share the port silently).
    """
    family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            raise PortInUseError(f"cannot listen on {host}:{port} for gRPC: {exc.strerror}") from None
        if port == 0:
            sockaddr = (sockaddr[0], probe.getsockname()[1], *sockaddr[2:])
    reserved = socket.socket(family, socket.SOCK_STREAM)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserved.bind(sockaddr)
    return reserved


def _die_with_parent(parent: int) -> None:
    """Ask Linux for SIGTERM when the launcher dies (a killed launcher must not leave workers behind)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(0)


class _LauncherLink:
    """The worker's end of its pipe to the launcher (sends may come from several RPC threads)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._lock = threading.Lock()

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        with self._lock, contextlib.suppress(OSError):
            self.connection.send_bytes(kind + payload)

    def relay_reload(self, config: Any) -> None:
        self.send(RELOAD, config.SerializeToString())


def _apply_config(core: Any, payload: bytes, reloaded: Any = None) -> None:
    from tf_serving_protos.tensorflow_serving.config import model_server_config_pb2
    from webapp.grpc.server import core_reloader

    config = model_server_config_pb2.ModelServerConfig.FromString(payload)
    try:
        core_reloader(core, reloaded=reloaded)(config)
    except Exception:
        log.exception("applying a model config relayed from another gRPC worker failed")


def run_worker(settings: Settings, address: str, connection: Connection, parent: int, config: bytes) -> None:
    """A worker process: its own serving core and gRPC server on the shared port, until SIGTERM."""
    _die_with_parent(parent)
    stopping = threading.Event()
    drain = [settings["DRAIN_SECONDS"]]

    def stop(signum: int, _frame: object) -> None:
        if signum == signal.SIGINT:
            drain[0] = 0.0
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the watcher takes it when MODEL_RELOAD_ON_SIGHUP is on
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED_SIGNALS)  # blocked by the launcher across fork
    from serving_core.server_core import ServerCore
    from webapp.grpc.server import start_grpc_server
    from webapp.third_party_noise import import_tensorflow_quietly

    import_tensorflow_quietly(settings["ENGINE"], settings["VERBOSE"])
    link = _LauncherLink(connection)
    if settings["METRICS"]:  # before the models load: their loads are counted too
        metrics.enable()
    core = ServerCore(settings.core_options()).start()
    if config:
        _apply_config(core, config)
    server = start_grpc_server(settings, core, address, reuse_port=True, relay=link.relay_reload)

    def receive() -> None:
        while True:
            try:
                message = connection.recv_bytes()
            except (EOFError, OSError):
                return
            if message[:1] == RELOAD:
                _apply_config(core, message[1:], server.health.update)

    threading.Thread(target=receive, name="launcher-link", daemon=True).start()
    version = _served_version(core, settings["MODEL_NAME"])
    link.send(STARTED, struct.pack("<I", server.port) + version.encode())
    log.info("gRPC worker %d serving on %s", os.getpid(), address)
    stopping.wait()
    log.info("gRPC worker %d stopping (drain %g s, grace %g s)", os.getpid(), drain[0],
             settings["GRPC_GRACE_SECONDS"])
    server.stop(settings["GRPC_GRACE_SECONDS"], drain[0])
    core.stop()
    metrics.flush()  # the process ends with os._exit: no atexit
    metrics.mark_process_dead(os.getpid())


def _served_version(core: Any, name: str) -> str:
    """The newest AVAILABLE version of model ``name`` ("" when none is), for the launcher's start-up line."""
    from serving_core.errors import ServingError

    try:
        entries = core.service.status(ModelSpec(name))
    except ServingError:
        return ""
    return next((entry["version"] for entry in entries if entry["state"] == "AVAILABLE"), "")


class _Worker:
    def __init__(self, process: Any, connection: Connection) -> None:
        self.process = process
        self.connection = connection
        self.started = False
        self.linked = True  # until its end of the pipe closes


class GrpcWorkers:
    """The launcher's side: forks, watches, restarts and stops the workers (see the module doc)."""

    def __init__(self, settings: Settings, host: str, port: int, count: int) -> None:
        self.settings = settings
        self.host = host
        self.count = count
        self._reserved = reserve_port(host, port)
        self.port = self._reserved.getsockname()[1]
        self.address = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self._context = multiprocessing.get_context("fork")
        self._workers: list[_Worker] = []
        self._exits: list[_Worker] = []
        self._config = b""  # the last config a worker relayed, for workers started later
        self._restarts: list[float] = []
        self.failed = ""
        #: The default model's version the first worker to start serves ("" when it serves none yet).
        self.version: str | None = None

    def _spawn(self) -> _Worker:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=run_worker, name="grpc-worker", daemon=False,
            args=(self.settings, self.address, theirs, os.getpid(), self._config),
        )
        # Signals stay blocked across the fork until the worker has its own handlers: one arriving in
        # between would run the launcher's handler in the child, and be lost.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED_SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        theirs.close()
        return _Worker(process, ours)

    def start(self) -> None:
        """Fork the workers (call before anything in this process creates a gRPC object or loads TF)."""
        self._workers = [self._spawn() for _ in range(self.count)]
        log.info("gRPC on %s: %d worker processes", self.address, self.count)

    def poll(self, timeout: float) -> None:
        """Handle the workers' messages and exits for up to ``timeout`` seconds (see ``restart_exited``)."""
        handles: dict[Any, _Worker] = {w.process.sentinel: w for w in self._workers}
        handles.update({w.connection: w for w in self._workers if w.linked})
        for ready in wait(list(handles), timeout):
            worker = handles[ready]
            if ready is worker.connection:
                self._receive(worker)
            elif worker in self._workers:
                self._exited(worker)

    def _receive(self, worker: _Worker) -> None:
        try:
            message = worker.connection.recv_bytes()
        except (EOFError, OSError):
            worker.linked = False  # the worker is exiting; its sentinel tells when it is gone
            return
        if message[:1] == STARTED:
            worker.started = True
            if self.version is None:
                self.version = message[5:].decode(errors="replace")
        elif message[:1] == RELOAD:
            self._config = message[1:]
            for other in self._workers:
                if other is not worker:
                    with contextlib.suppress(OSError):
                        other.connection.send_bytes(message)

    def _exited(self, worker: _Worker) -> None:
        worker.process.join()
        metrics.mark_process_dead(worker.process.pid)  # one killed did not mark itself
        self._workers.remove(worker)
        self._exits.append(worker)
        worker.connection.close()

    @property
    def all_started(self) -> bool:
        return len(self._workers) == self.count and all(worker.started for worker in self._workers)

    def restart_exited(self) -> None:
        """Replace the workers that exited since the last call; sets ``failed`` instead when restarting
        would not help (one failed to start, or they keep dying)."""
        exits, self._exits = self._exits, []
        for worker in exits:
            code = worker.process.exitcode
            if not worker.started:
                self.failed = f"a gRPC worker failed to start (exit code {code}); its log says why"
                return
            now = time.monotonic()
            self._restarts = [t for t in self._restarts if now - t < 60] + [now]
            if len(self._restarts) > RESTARTS_PER_MINUTE:
                self.failed = f"gRPC workers died {len(self._restarts)} times within a minute"
                return
            log.error("gRPC worker %d exited (code %s): starting another", worker.process.pid, code)
            self._workers.append(self._spawn())

    def signal(self, signum: int) -> None:
        for worker in self._workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid, signum)

    def stop(self) -> None:
        """SIGTERM every worker, wait for the drain and the grace period (plus unloading), then kill what
        is left."""
        self.signal(signal.SIGTERM)
        settings = self.settings
        deadline = time.monotonic() + settings["DRAIN_SECONDS"] + settings["GRPC_GRACE_SECONDS"] + 10
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.error("gRPC worker %d did not stop in time: killing it", worker.process.pid)
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
        self._workers = []
        self._reserved.close()
