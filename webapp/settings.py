"""The server's configuration: every setting with its type, default and meaning, in this one table.

Each setting ``KEY`` can be given as the environment variable ``EMNIST_KEY`` (how gunicorn and the
container set them) or, in code and tests, as ``create_app({"KEY": value})``; later sources win:
defaults < environment < overrides. gunicorn's own settings (``gunicorn.conf.py`` reads them here) keep
the variable names gunicorn's users know (``GUNICORN_BIND``, ``WEB_CONCURRENCY``...). Everything is
parsed and checked once, at start-up: an unknown ``EMNIST_*`` variable, an unknown key or a value that
does not parse stops the server with the variable or key named. ``python -m webapp.settings`` prints the
table as Markdown (docs/operations.md holds it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving_core.batching import BatchingOptions
from serving_core.engines import AUTO, EngineOptions
from serving_core.lifecycle.model_config import single_model_source
from serving_core.payloads.limits import ServerLimits
from serving_core.pixel_gate import PixelGate
from serving_core.server_core import CoreOptions
from webapp import setting_parsers as parse

ENV_PREFIX = "EMNIST_"
#: The repository's models/ folder: where the bundled models are.
BUNDLED_MODELS = Path(__file__).resolve().parent.parent / "models"


class SettingsError(ValueError):
    """A setting that is unknown or does not parse; the message names it."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's cpuset), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1



@dataclass(frozen=True)
class Setting:
    key: str
    kind: str  # the type, as the docs table shows it
    default: Any
    doc: str
    parse: Callable[[Any], Any]
    #: The environment variable, when it is not ``EMNIST_<KEY>`` (gunicorn's own variables).
    env: str | None = None

    @property
    def variable(self) -> str:
        return self.env or ENV_PREFIX + self.key


SETTINGS: tuple[Setting, ...] = (
    # Which models, from where.
    Setting("MODEL_BASE_PATH", "path", None, "folder of model folders (or one model's folder); empty: the "
            "repository's models/", parse.optional_path),
    Setting("MODEL_NAME", "string", "emnist", "model served by default (the page, /predict, /readyz)",
            parse.model_name),
    Setting("ENGINE", "choice", AUTO, "auto, tensorflow (the SavedModel; needs the serve-tf extra) or "
            "onnxruntime (the version's model.onnx); auto: tensorflow where TensorFlow is installed, else "
            "onnxruntime", parse.engine),
    Setting("MODEL_VERSION_POLICY", "string", "latest", "versions to serve: latest, latest:N, all, "
            "specific:1,3", parse.policy),
    Setting("MODEL_VERSION_LABELS", "string", "", "version labels, e.g. stable=1,canary=2", parse.labels),
    Setting("MODEL_CONFIG_FILE", "path", None, "a TF Serving model_config_list file; replaces the four "
            "settings above", parse.optional_path),
    Setting("MODEL_CONFIG_FILE_POLL_SECONDS", "seconds", 0.0, "re-read MODEL_CONFIG_FILE this often "
            "(0: only at start and on SIGHUP)", parse.seconds),
    Setting("FILE_SYSTEM_POLL_SECONDS", "seconds", 2.0, "scan the base paths for new or removed versions "
            "this often (0: only at start and on SIGHUP)", parse.seconds),
    Setting("MODEL_WARMUP", "bool", True, "replay assets.extra/tf_serving_warmup_requests before a version "
            "is AVAILABLE", parse.boolean),
    Setting("MODEL_SETTLE_SECONDS", "seconds", 0.5, "a version folder is loaded once its files have not "
            "changed for this long (a copy still being written is not loaded half-done)", parse.seconds),
    Setting("MODEL_RELOAD_ON_SIGHUP", "bool", True, "SIGHUP re-reads the config file and rescans",
            parse.boolean),
    Setting("ALLOW_VERSION_LABELS_FOR_UNAVAILABLE_MODELS", "bool", False, "let a label point at a version "
            "that is not AVAILABLE yet (TF Serving's flag)", parse.boolean),
    Setting("START_REGISTRY", "bool", True, "load the models and start watching them when the app is "
            "created (tests of error handling turn it off)", parse.boolean),
    Setting("ENABLE_BATCHING", "bool|auto", False, "server-side batching of concurrent requests "
            "(auto: with the tensorflow engine only)", parse.boolean_or_auto),
    Setting("BATCHING_MAX_BATCH_SIZE", "int", 32, "most images in one batched model call",
            parse.integer(1)),
    Setting("BATCHING_TIMEOUT_MICROS", "int", 0, "how long a batch that is not full waits for more "
            "requests", parse.integer(0)),
    Setting("BATCHING_MAX_ENQUEUED", "int", 64, "queue bound, in batches of BATCHING_MAX_BATCH_SIZE "
            "(503 beyond it)", parse.integer(1)),
    Setting("BATCHING_NUM_BATCH_THREADS", "int", 1, "batches that may run at once in one process",
            parse.integer(1)),
    Setting("ONNX_INTRA_OP_THREADS", "int", 1, "onnxruntime threads per session", parse.integer(1)),
    Setting("TF_INTRA_OP_THREADS", "int", 1, "TensorFlow threads per op (0: one per core)", parse.integer(0)),
    Setting("TF_INTER_OP_THREADS", "int", -1, "TensorFlow inter-op threads (negative: run the graph in "
            "the calling thread; 0: one per core)", parse.integer()),
    # Requests.
    Setting("MAX_CONTENT_LENGTH", "bytes", 16 * 1024 * 1024, "largest request body (413 above it)",
            parse.integer(1)),
    Setting("MAX_INSTANCES", "int", 1024, "most images in one request (400 above it)", parse.integer(1)),
    Setting("MAX_IMAGE_PIXELS", "int", 40_000_000, "most pixels one image file may decode to, checked "
            "from its header before decoding (a large JPEG counts at the reduced scale it is decoded at; "
            "413 above it)", parse.integer(1)),
    Setting("MAX_DECODED_IMAGES", "int", 64, "most image files (PNG, JPEG, GIF, BMP, WebP) in one request "
            "(400 above it; raw pixels and .npy count only against MAX_INSTANCES)", parse.integer(1)),
    Setting("MAX_DECODED_PIXELS", "int", 40_000_000, "most pixels all the image files of one request may "
            "decode to together (413 above it)", parse.integer(1)),
    Setting("MAX_CONCURRENT_DECODE_PIXELS", "int", 40_000_000, "most image pixels being decoded at once in "
            "one worker process, all requests together (the others wait their turn within their "
            "deadline; one larger image is decoded alone)", parse.integer(1)),
    Setting("REQUEST_DEADLINE_SECONDS", "seconds", 10.0, "most time from a request's arrival (its body "
            "read) to its answer: 504 when it runs out while being worked on, 503 when it could not "
            "start in time (0: no deadline)", parse.seconds),
    Setting("MAX_FORM_PARTS", "int", 1000, "most parts of a multipart form (413 above it; Werkzeug's "
            "limit)", parse.integer(1)),
    Setting("MAX_FORM_MEMORY_SIZE", "bytes", 500_000, "largest non-file field or part header of a "
            "multipart form, e.g. a file name (413 above it; Werkzeug's limit)", parse.integer(1)),
    Setting("REQUEST_BODY_TIMEOUT_SECONDS", "seconds", 30.0, "the whole request body must arrive within "
            "this once the headers have (408 and the connection closed after it; 0: no limit)",
            parse.seconds),
    Setting("DEFAULT_TOP_K", "int", 5, "entries in top_k of /predict answers (?top_k= asks for others)",
            parse.integer(1, 62)),
    Setting("FAST_PREDICT_PATH", "bool", True, "answer :predict and the V2 .../infer below Flask's request "
            "handling (same answers, less CPU per request)", parse.boolean),
    # Other protocols.
    Setting("GRAPHPIPE_PORT", "int", 0, "also serve GraphPipe on this port, every path for MODEL_NAME "
            "(0: off; POST /graphpipe/<model> on the REST port is always on)", parse.integer(0, 65535)),
    # The gRPC model server (``python -m webapp.model_server``).
    Setting("GRPC_HOST", "string", "127.0.0.1", "address the gRPC server listens on (127.0.0.1: this "
            "machine only; 0.0.0.0: every interface)", parse.host),
    Setting("GRPC_PORT", "int", 8500, "gRPC port: TF Serving's PredictionService and ModelService, the "
            "V2 GRPCInferenceService, health (0: no gRPC server)", parse.integer(0, 65535)),
    Setting("GRPC_WORKERS", "int", 0, "gRPC server processes sharing GRPC_PORT, each with its own models "
            "(0: one per core available)", parse.integer(0)),
    Setting("GRPC_THREADS", "int", 4, "RPCs one gRPC process runs at once (more wait in its queue)",
            parse.integer(1)),
    Setting("GRPC_GRACE_SECONDS", "seconds", 30.0, "on SIGTERM, how long RPCs in flight may take to finish "
            "once the drain is over", parse.seconds),
    # Stopping and starting (``python -m webapp.model_server``, gunicorn's workers).
    Setting("DRAIN_SECONDS", "seconds", 2.0, "on SIGTERM, readiness (/readyz, gRPC health) turns NOT_SERVING "
            "at once and new connections are still taken, answered with Connection: close, for this long "
            "(a load balancer's time to notice); then they are refused and requests in flight finish",
            parse.seconds),
    Setting("VERBOSE", "bool", False, "show third-party start-up noise (TensorFlow's C++ log, its Python "
            "warnings and deprecation notices); off: they are silenced, the server's own log stays",
            parse.boolean),
    # The app as a front end to remote model servers.
    Setting("MODEL_SERVER", "string", "", "model servers doing the inference, e.g. grpc://models-a:8500,"
            "http://models-b:8501 (empty: the app loads the models itself)", parse.model_servers),
    Setting("MODEL_SERVER_TIMEOUT_SECONDS", "seconds", 10.0, "deadline of one call to the model servers, "
            "retries included (504 after it)", parse.seconds),
    Setting("MODEL_SERVER_RETRIES", "int", 3, "further attempts, on the next model server, when one is "
            "unavailable (503 when all fail)", parse.integer(0)),
    # Who may call the APIs.
    Setting("API_TOKENS", "string", "", "bearer tokens the APIs accept, comma-separated (REST: header "
            "Authorization: Bearer <token>; gRPC: metadata authorization); empty: the APIs are open. "
            "Health probes stay open", parse.tokens),
    Setting("PAGE_NEEDS_TOKEN", "bool", False, "with API_TOKENS set, the page and its static files need "
            "a token too (a proxy in front adds it); off: the page stays open", parse.boolean),
    Setting("CORS_ORIGINS", "string", "", "origins whose browser scripts may call the APIs (CORS, "
            "preflight answered), comma-separated, or * for any; empty: off", parse.origins),
    # What the server tells its operators.
    Setting("METRICS", "bool", True, "Prometheus metrics at /monitoring/prometheus/metrics and /metrics, "
            "every process of the server summed (through PROMETHEUS_MULTIPROC_DIR, a temporary folder the "
            "launcher makes when unset)", parse.boolean),
    Setting("ACCESS_LOG", "bool", False, "one log line per request on every protocol (REST and gRPC): "
            "method or RPC, route, status, bytes, latency, model, version, request id", parse.boolean),
    Setting("LOG_FORMAT", "choice", "plain", "the log lines' form: plain text, or json (one object a "
            "line, with every field of the access log and of the model lifecycle events)", parse.log_format),
    # gunicorn (gunicorn.conf.py), under the variables gunicorn's users know; its command line wins.
    Setting("GUNICORN_BIND", "string", "127.0.0.1:8000", "address the REST server listens on: HOST:PORT, "
            "[IPv6]:PORT, unix:PATH or fd://N", parse.bind, env="GUNICORN_BIND"),
    Setting("GUNICORN_WORKERS", "int", 0, "gunicorn worker processes, each with its own models (0: one "
            "per core available: inference is CPU-bound)", parse.integer(0), env="WEB_CONCURRENCY"),
    Setting("GUNICORN_THREADS", "int", 4, "threads per gunicorn worker that run the app (a connection is a "
            "greenlet: it holds no thread while its request arrives)", parse.integer(1),
            env="GUNICORN_THREADS"),
    Setting("GUNICORN_ACCESSLOG", "path", None, "access log: - logs every request to stdout (with its time "
            "in ms), a path to that file (empty: none)", parse.log_target, env="GUNICORN_ACCESSLOG"),
    Setting("GUNICORN_LOGLEVEL", "choice", "info", "gunicorn's log level: debug, info, warning, error, "
            "critical", parse.log_level, env="GUNICORN_LOGLEVEL"),
    Setting("GUNICORN_CONTROL_SOCKET", "path", None, "path of gunicorn's control socket (gunicornc; empty: "
            "off)", parse.optional_path, env="GUNICORN_CONTROL_SOCKET"),
)
_BY_KEY = {setting.key: setting for setting in SETTINGS}
_BY_VARIABLE = {setting.variable: setting for setting in SETTINGS}
#: The settings read from variables of their own names (not found by the ``EMNIST_`` prefix).
_OWN_VARIABLES = tuple(setting for setting in SETTINGS if not setting.variable.startswith(ENV_PREFIX))


class Settings(Mapping[str, Any]):
    """The parsed settings (read-only), and the core's options built from them."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def model_base_path(self) -> Path:
        """The model's own folder: a base path not ending in the model's name gets it appended."""
        base = Path(self["MODEL_BASE_PATH"] or BUNDLED_MODELS)
        return base if base.name == self["MODEL_NAME"] else base / self["MODEL_NAME"]

    @property
    def batching_enabled(self) -> bool:
        enabled = self["ENABLE_BATCHING"]
        return self["ENGINE"] == "tensorflow" if enabled is None else enabled

    @property
    def model_servers(self) -> list[Any]:
        """The remote model servers' addresses (``webapp.remote.addresses``); empty: serve in-process."""
        from webapp.remote.addresses import parse_model_servers

        return parse_model_servers(self["MODEL_SERVER"])

    @property
    def grpc_workers(self) -> int:
        return self["GRPC_WORKERS"] or available_cores()

    @property
    def gunicorn_workers(self) -> int:
        return self["GUNICORN_WORKERS"] or available_cores()

    def server_limits(self) -> ServerLimits:
        """The request limits; their pixel gate is shared by every request of the server built from it,
        so build it once per process."""
        return ServerLimits(
            max_instances=self["MAX_INSTANCES"],
            max_image_pixels=self["MAX_IMAGE_PIXELS"],
            max_decoded_images=self["MAX_DECODED_IMAGES"],
            max_decoded_pixels=self["MAX_DECODED_PIXELS"],
            gate=PixelGate(self["MAX_CONCURRENT_DECODE_PIXELS"]),
            deadline_seconds=self["REQUEST_DEADLINE_SECONDS"],
        )

    def core_options(self) -> CoreOptions:
        config_file = self["MODEL_CONFIG_FILE"]
        sources = () if config_file else (
            single_model_source(
                name=self["MODEL_NAME"],
                base_path=self.model_base_path,
                policy=self["MODEL_VERSION_POLICY"],
                labels=self["MODEL_VERSION_LABELS"],
            ),
        )
        batching = BatchingOptions(
            max_batch_size=self["BATCHING_MAX_BATCH_SIZE"],
            batch_timeout_micros=self["BATCHING_TIMEOUT_MICROS"],
            max_enqueued_batches=self["BATCHING_MAX_ENQUEUED"],
            num_batch_threads=self["BATCHING_NUM_BATCH_THREADS"],
        ) if self.batching_enabled else None
        return CoreOptions(
            sources=sources,
            config_file=Path(config_file) if config_file else None,
            engine=self["ENGINE"],
            engine_options=EngineOptions(
                onnx_intra_op_threads=self["ONNX_INTRA_OP_THREADS"],
                tf_intra_op_threads=self["TF_INTRA_OP_THREADS"],
                tf_inter_op_threads=self["TF_INTER_OP_THREADS"],
            ),
            file_system_poll_seconds=self["FILE_SYSTEM_POLL_SECONDS"],
            config_file_poll_seconds=self["MODEL_CONFIG_FILE_POLL_SECONDS"],
            warmup=self["MODEL_WARMUP"],
            allow_version_labels_for_unavailable_models=self["ALLOW_VERSION_LABELS_FOR_UNAVAILABLE_MODELS"],
            reload_on_sighup=self["MODEL_RELOAD_ON_SIGHUP"],
            batching=batching,
            model_settle_seconds=self["MODEL_SETTLE_SECONDS"],
        )


def _parse(setting: Setting, value: Any, source: str) -> Any:
    try:
        return setting.parse(value)
    except ValueError as exc:
        raise SettingsError(f"{source}: {exc}") from None


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    passthrough: frozenset[str] = frozenset(),
) -> tuple[Settings, dict[str, Any]]:
    """(the settings, the overrides left for the caller): defaults < ``EMNIST_*`` variables < overrides.

    ``passthrough`` names keys that are not settings of this server but of the framework around it
    (Flask's own configuration keys); they are handed back untouched. Anything else unknown is refused.
    """
    environ = os.environ if environ is None else environ
    values = {setting.key: setting.default for setting in SETTINGS}
    for variable, text in environ.items():
        if not variable.startswith(ENV_PREFIX):
            continue
        setting = _BY_VARIABLE.get(variable)
        if setting is None:
            raise SettingsError(f"unknown environment variable {variable} (docs/operations.md lists them)")
        values[setting.key] = _parse(setting, text, f"environment variable {variable}")
    for setting in _OWN_VARIABLES:
        if setting.variable in environ:
            values[setting.key] = _parse(setting, environ[setting.variable],
                                         f"environment variable {setting.variable}")
    rest: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        setting = _BY_KEY.get(key)
        if setting is not None:
            values[key] = _parse(setting, value, f"setting {key}")
        elif key in passthrough:
            rest[key] = value
        else:
            raise SettingsError(f"unknown setting {key!r} (docs/operations.md lists them)")
    if values["ENGINE"] == AUTO:  # the default: resolved here, as an explicit value is when parsed
        values["ENGINE"] = _parse(_BY_KEY["ENGINE"], AUTO, "setting ENGINE")
    return Settings(values), rest


def markdown_table() -> str:
    """The settings as the Markdown table of docs/operations.md."""
    lines = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS:
        default = "–" if setting.default in (None, "") else f"`{setting.default}`"
        lines.append(f"| `{setting.variable}` | {setting.kind} | {default} | {setting.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
