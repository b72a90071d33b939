"""The server's Prometheus metrics: every definition, how each is recorded, and the scrape's text.

TF Serving's own metrics keep its names, labels, units (microseconds) and bucket boundaries, so its
dashboards and alerts work unchanged: ``:tensorflow:serving:request_count``, ``request_latency``,
``runtime_latency``, ``model_warmup_latency`` and the batching histograms. The ``emnist_*`` metrics are
this server's own (requests by protocol, route and status, images per request, refusals by limit, model
states, loads and unloads, upload decoding, calls to remote model servers), in seconds.

Recording on the hot path is a few additions to this process's own tally (``_Tally``), written to
``prometheus_client``'s values once a second, before this process answers a scrape, and at exit: a value
of the multiprocess files costs a lock, a pid check and a write into the shared file on every increment,
and one request's dozen of them cost more than the rest of its observation.

Several processes serve one port (gunicorn workers, gRPC workers), so the values live in
``prometheus_client``'s multiprocess files when ``PROMETHEUS_MULTIPROC_DIR`` is set: any process answers
a scrape with the sum over every process, and a dead process's live gauges are dropped
(``mark_process_dead``) while its counts stay in the totals. The directory must be set before
``prometheus_client`` is first imported (it reads it then), which is why nothing here imports it at
module level. Without the variable (one process: tests, ``create_app`` in code) the values are this
process's own. Recording is switched on per process by ``enable``; until then every ``active()`` is None
and the call sites skip their work.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from serving_core.observation import RequestRecord

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Linux's shared-memory tmpfs: where the server makes its multiprocess folder when it exists.
SHARED_MEMORY = "/dev/shm"
#: The folders the server makes: this prefix, the maker's pid, a random part.
DIR_PREFIX = "emnist-metrics-"
#: The text format's media type (version 0.0.4), as Prometheus asks for it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: TF Serving's request and runtime latency (microseconds): scale 10, growth 1.8, 33 buckets.
LATENCY_MICROS_BUCKETS = tuple(10 * 1.8 ** i for i in range(33))
#: TF Serving's batching queuing latency (microseconds): scale 100, growth 1.2, 52 buckets.
QUEUING_MICROS_BUCKETS = tuple(100 * 1.2 ** i for i in range(52))
#: TF Serving's batch sizes: buckets centred at powers of 2, scale 2/3, growth 2, 15 buckets.
BATCH_SIZE_BUCKETS = tuple(2 / 3 * 2 ** i for i in range(15))
#: Images per request, up to MAX_INSTANCES' default.
IMAGES_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
#: Our own durations (seconds): a decode of a few ms up to a load of minutes.
SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                   30.0, 60.0, 120.0, 300.0)

#: How often a process writes its tally to the metric values (a scrape may see counts this much late).
FLUSH_SECONDS = 1.0

#: The entrypoint label of TF Serving's request latency, by protocol.
_ENTRYPOINTS = {"tfserving-grpc": "GRPC", "v2-grpc": "GRPC"}


class _Tally:
    """Counter increments and histogram observations since the last ``flush``, as plain numbers behind one
    short lock (see the module doc); ``flush`` adds them to the metric children in one write each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[Any, float] = {}
        #: histogram child -> [sum of the values, count of each bucket...]
        self._histograms: dict[Any, list[float]] = {}

    def inc(self, child: Any, amount: float = 1.0) -> None:
        with self._lock:
            self._counts[child] = self._counts.get(child, 0.0) + amount

    def observe(self, child: Any, value: float) -> None:
        bounds = child._upper_bounds  # ends with +Inf: every value has its bucket (the first bound >= it)
        index = bisect_left(bounds, value)
        with self._lock:
            tally = self._histograms.get(child)
            if tally is None:
                tally = self._histograms[child] = [0.0] * (len(bounds) + 1)
            tally[0] += value
            tally[index + 1] += 1

    def flush(self) -> None:
        """Add what was tallied to the metric values (the multiprocess files, when on)."""
        with self._lock:
            counts, self._counts = self._counts, {}
            histograms, self._histograms = self._histograms, {}
        for child, amount in counts.items():
            child.inc(amount)
        for child, tally in histograms.items():
            # What ``Histogram.observe`` does per value, once per bucket: its sum and its bucket counts.
            child._sum.inc(tally[0])
            for index, count in enumerate(tally[1:]):
                if count:
                    child._buckets[index].inc(count)


class Metrics:
    """The metric objects of one process, and one method per thing the server records."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        def counter(name: str, doc: str, labels: Iterable[str]) -> Any:
            return Counter(name, doc, list(labels), registry=registry)

        def histogram(name: str, doc: str, labels: Iterable[str], buckets: Iterable[float]) -> Any:
            return Histogram(name, doc, list(labels), registry=registry, buckets=tuple(buckets))

        tf = ":tensorflow:serving:"
        self.request_count = counter(f"{tf}request_count", "The total number of requests.",
                                     ("model_name", "status"))
        self.request_latency = histogram(
            f"{tf}request_latency", "Distribution of wall time (in microseconds) for Tensorflow Serving "
            "request.", ("model_name", "API", "entrypoint"), LATENCY_MICROS_BUCKETS)
        self.runtime_latency = histogram(
            f"{tf}runtime_latency", "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ("model_name", "API", "runtime"), LATENCY_MICROS_BUCKETS)
        self.warmup_latency = histogram(
            f"{tf}model_warmup_latency", "Distribution of wall time (in microseconds) for warming up the "
            "model.", ("model_path", "status"), LATENCY_MICROS_BUCKETS)
        self.input_batch_size = histogram(
            f"{tf}batching:input_batch_size", "Tracks the batch size distribution on the inputs by "
            "model_name (if available).", ("model_name", "op_name"), BATCH_SIZE_BUCKETS)
        self.processed_batch_size = histogram(
            f"{tf}batching:processed_batch_size", "Tracks the batch size distribution on processing by "
            "model_name (if available).", ("model_name", "op_name"), BATCH_SIZE_BUCKETS)
        self.queuing_latency = histogram(
            f"{tf}batching_session:queuing_latency", "Distribution of wall time spent (in microseconds) in "
            "queuing", ("thread_pool_name",), QUEUING_MICROS_BUCKETS)

        self.requests = counter("emnist_requests", "Requests answered, by protocol, declared route (or RPC) "
                                "and status (HTTP status, or gRPC code name).", ("protocol", "route", "code"))
        self.images = histogram("emnist_request_images", "Images in one inference request, by protocol.",
                                ("protocol",), IMAGES_BUCKETS)
        self.refusals = counter("emnist_refusals", "Requests refused by a configured limit, by the limit's "
                                "setting.", ("limit",))
        self.model_state = Gauge("emnist_model_version_state", "Processes holding the model version in "
                                 "this state (TF Serving's ModelVersionStatus states).",
                                 ["model_name", "version", "state"], registry=registry,
                                 multiprocess_mode="livesum")
        self.loads = counter("emnist_model_loads", "Model version loads, by outcome (success, failure).",
                             ("model_name", "outcome"))
        self.load_seconds = histogram("emnist_model_load_seconds", "Time to load, check and warm up a "
                                      "model version.", ("model_name", "outcome"), SECONDS_BUCKETS)
        self.unloads = counter("emnist_model_unloads", "Model versions unloaded.", ("model_name",))
        self.unload_seconds = histogram("emnist_model_unload_seconds", "Time to close a model version's "
                                        "engine.", ("model_name",), SECONDS_BUCKETS)
        self.decode_seconds = histogram("emnist_upload_decode_seconds", "Time to decode one uploaded "
                                        "image file to greyscale pixels.", (), SECONDS_BUCKETS)
        self.remote_calls = counter("emnist_remote_calls", "Calls of the front end to remote model "
                                    "servers, by server and outcome (OK, or the failure's code).",
                                    ("server", "outcome"))
        self.remote_seconds = histogram("emnist_remote_call_seconds", "Time of one call to a remote model "
                                        "server.", ("server",), SECONDS_BUCKETS)
        self._states: dict[tuple[str, str, str], int] = {}
        #: Labelled children already made: a dict lookup per request instead of ``labels()``'s checks and
        #: lock (their label values are few: protocols, declared routes, codes, models).
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.tally = _Tally()

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # --- requests --------------------------------------------------------------------------------

    def request_done(self, record: RequestRecord, code: str, status: str, seconds: float) -> None:
        """One answered request: ``code`` its HTTP status or gRPC code name, ``status`` its TF Serving
        status (the canonical code's name)."""
        protocol = record.protocol or "other"
        child, tally = self._child, self.tally
        tally.inc(child(self.requests, protocol, record.route or "unmatched", code))
        inference = record.inference
        if inference is not None:
            # A name no model has (a client's typo, a scanner) is not a label value: each would be a series.
            model = inference.spec.name if status != "NOT_FOUND" else ""
            tally.inc(child(self.request_count, model, status))
            entrypoint = _ENTRYPOINTS.get(protocol, "REST")
            tally.observe(child(self.request_latency, model, inference.api, entrypoint), seconds * 1e6)
            if inference.images:
                tally.observe(child(self.images, protocol), inference.images)
        error = record.error
        limit = getattr(error, "limit", None) if error is not None else None
        if limit:
            tally.inc(child(self.refusals, limit))

    def runtime(self, model: str, api: str, runtime: str, seconds: float) -> None:
        self.tally.observe(self._child(self.runtime_latency, model, api, runtime), seconds * 1e6)

    # --- batching --------------------------------------------------------------------------------

    def batch_input(self, model: str, size: int) -> None:
        self.tally.observe(self._child(self.input_batch_size, model, "DynamicBatcher"), size)

    def batch_processed(self, model: str, size: int, queued_seconds: Iterable[float]) -> None:
        self.tally.observe(self._child(self.processed_batch_size, model, "DynamicBatcher"), size)
        queued = self._child(self.queuing_latency, model)
        for seconds in queued_seconds:
            self.tally.observe(queued, seconds * 1e6)

    # --- the model lifecycle ---------------------------------------------------------------------

    def load_done(self, model: str, seconds: float, success: bool) -> None:
        outcome = "success" if success else "failure"
        self.loads.labels(model, outcome).inc()
        self.load_seconds.labels(model, outcome).observe(seconds)

    def warmup_done(self, model_path: str, seconds: float, status: str) -> None:
        self.warmup_latency.labels(model_path, status).observe(seconds * 1e6)

    def unload_done(self, model: str, seconds: float) -> None:
        self.unloads.labels(model).inc()
        self.unload_seconds.labels(model).observe(seconds)

    def model_states(self, counts: Mapping[tuple[str, str, str], int]) -> None:
        """This process's versions by (model, version, state); states no longer held go back to 0."""
        for key in self._states.keys() - counts.keys():
            self.model_state.labels(*key).set(0)
        for key, count in counts.items():
            if self._states.get(key) != count:
                self.model_state.labels(*key).set(count)
        self._states = dict(counts)

    # --- uploads and remote model servers --------------------------------------------------------

    def decoded(self, seconds: float) -> None:
        self.tally.observe(self.decode_seconds, seconds)

    def remote_call(self, server: str, outcome: str, seconds: float) -> None:
        self.tally.inc(self._child(self.remote_calls, server, outcome))
        self.tally.observe(self._child(self.remote_seconds, server), seconds)


_active: Metrics | None = None
_registry: Any = None


def active() -> Metrics | None:
    """This process's metrics, or None while recording is off (the call sites then skip their work)."""
    return _active


def enable() -> Metrics:
    """Switch recording on in this process (once; later calls return the same metrics)."""
    global _active, _registry
    if _active is None:
        from prometheus_client import CollectorRegistry, disable_created_metrics

        disable_created_metrics()
        # In multiprocess mode the values are the files'; a scrape reads them with a fresh registry.
        _registry = None if os.environ.get(MULTIPROC_ENV) else CollectorRegistry()
        _active = Metrics(_registry)
        tally = _active.tally
        atexit.register(tally.flush)
        threading.Thread(target=_flush_every, args=(tally,), name="metrics-flush", daemon=True).start()
    return _active


def _flush_every(tally: _Tally) -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        tally.flush()


def flush() -> None:
    """Write this process's tally to the metric values now (before it exits without running atexit)."""
    if _active is not None:
        _active.tally.flush()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> bytes:
    """The Prometheus text of every process's metrics (this process's alone without a multiprocess dir)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    flush()  # this process's own counts are exact; the others' are at most FLUSH_SECONDS late
    path = multiprocess_dir()
    if path is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path)
    else:
        registry = _registry if _registry is not None else CollectorRegistry()
    text = generate_latest(_TfServingNames(registry))
    for name in TF_SERVING_COUNTERS:  # the family's HELP and TYPE lines, named as its samples now are
        for line in (b"# HELP ", b"# TYPE "):
            text = text.replace(line + name.encode() + b"_total ", line + name.encode() + b" ")
    return text


#: TF Serving's counters, exported under their own names where ``prometheus_client`` adds ``_total``.
TF_SERVING_COUNTERS = (":tensorflow:serving:request_count",)


class _TfServingNames:
    """A registry's families with TF Serving's counters' samples under TF Serving's names."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        for family in self.registry.collect():
            if family.name in TF_SERVING_COUNTERS:
                family.samples = [sample._replace(name=family.name) if sample.name == family.name + "_total"
                                  else sample for sample in family.samples]
            yield family


# --- the multiprocess directory's life ------------------------------------------------------------

def create_multiprocess_dir() -> Path | None:
    """A fresh directory for the server's processes, set in the environment its children inherit; None
    when ``PROMETHEUS_MULTIPROC_DIR`` is set already (the operator's, or a launcher's: not ours to
    remove)."""
    if multiprocess_dir() is not None:
        Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)
        return None
    # On tmpfs where there is one: the files are written on every flush and need not reach a disk.
    parent = Path(SHARED_MEMORY if os.path.isdir(SHARED_MEMORY) else tempfile.gettempdir())
    _remove_orphans(parent)
    path = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-", dir=parent))
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def _remove_orphans(parent: Path) -> None:
    """Remove the folders of servers that were killed (SIGKILL leaves no chance to clean): those whose
    maker's pid (in the name) is no process any more."""
    for folder in parent.glob(f"{DIR_PREFIX}*-*"):
        pid = folder.name[len(DIR_PREFIX):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # another user's live process
            continue


def remove_multiprocess_dir(path: Path | None) -> None:
    """Remove a directory ``create_multiprocess_dir`` made (None: nothing was made)."""
    if path is None:
        return
    shutil.rmtree(path, ignore_errors=True)
    if os.environ.get(MULTIPROC_ENV) == str(path):
        del os.environ[MULTIPROC_ENV]


def mark_process_dead(pid: int) -> None:
    """Drop a finished process's live gauges from the shared files (its counts stay in the totals)."""
    if multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
