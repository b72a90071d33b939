"""gunicorn settings for the EMNIST app (``make run``); each can be overridden on the command line or
with GUNICORN_CMD_ARGS.

In the package, so an installed server finds them (``gunicorn --config python:webapp.gunicorn_conf``); a
checkout's ``gunicorn.conf.py`` takes them from here.

What the environment may change (GUNICORN_BIND, WEB_CONCURRENCY, GUNICORN_THREADS, GUNICORN_ACCESSLOG,
GUNICORN_LOGLEVEL, GUNICORN_CONTROL_SOCKET) is read through the server's settings table
(``webapp.settings``), parsed and checked there with the app's own settings: a bad value stops gunicorn
with the variable named. The rest are gunicorn-only constants. docs/operations.md explains the choices
(and has the nginx configuration for a public deployment); README.md's limits table lists every limit
with its default.
"""

import os

from serving_core import metrics
from webapp.settings import SettingsError, load_settings

try:
    _settings = load_settings()[0]
except SettingsError as exc:
    raise SystemExit(f"gunicorn settings: {exc}") from None

# Loopback only by default: put a reverse proxy (TLS, buffering of slow clients) in front for the world.
bind = _settings["GUNICORN_BIND"]

# Inference is CPU-bound: by default one worker process per core this process may run on. More processes
# only add memory (each TensorFlow worker holds a whole TensorFlow runtime) and context switches.
workers = _settings.gunicorn_workers

# Connections are greenlets, the app runs in real threads (webapp/http/gunicorn_worker.py): a client
# that sends its request slowly, or nothing at all, holds a greenlet and a socket, never one of the
# threads, so a few slow clients cannot stop the server as they stop gunicorn's gthread worker.
worker_class = "webapp.http.gunicorn_worker.GeventThreadPoolWorker"
# Threads per worker that run the app (decoding, the model call, JSON): the model call and orjson/numpy
# release the GIL for much of a request, so a few threads let one request be parsed while another runs
# the model, and give the dynamic batcher (EMNIST_ENABLE_BATCHING) concurrent requests to merge. Not
# more: the work is CPU-bound, extra threads just queue.
threads = _settings["GUNICORN_THREADS"]
# Open connections per worker (gunicorn's default): idle and slow ones included; beyond it a worker stops
# accepting until one closes.
worker_connections = 1000

# No preload: TensorFlow starts thread pools when a model loads and they do not survive fork(), and the
# model registry runs a watcher thread; so every worker builds the app (and loads the model) itself after
# the fork. The price is one model load per worker at start-up.
preload_app = False

# A worker silent for this long is killed and replaced. It only catches a truly stuck worker: requests
# have their own deadline (EMNIST_REQUEST_DEADLINE_SECONDS) and every load is bounded far below it.
timeout = 60
# On restart/stop, requests in flight get this long to finish, counted from SIGTERM: the drain
# (EMNIST_DRAIN_SECONDS, webapp/http/gunicorn_worker.py) is part of it.
graceful_timeout = 30
# Seconds a connection may take to send a request's line and headers, and to stay idle between two
# requests: after that the worker closes it. The body then has EMNIST_REQUEST_BODY_TIMEOUT_SECONDS.
keepalive = 5

# gunicorn's own request line and header limits, stated so the README's limits table holds:
# a longer line or more or longer fields are answered (414 or 431, as JSON) before the app sees them.
# The body limit is the app's EMNIST_MAX_CONTENT_LENGTH.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# gunicorn's control socket (gunicornc) defaults to one path per user, ~/.gunicorn/gunicorn.ctl, that
# every new instance takes over from the last. Off unless GUNICORN_CONTROL_SOCKET names this instance's.
control_socket = _settings["GUNICORN_CONTROL_SOCKET"] or "gunicorn.ctl"
control_socket_disable = _settings["GUNICORN_CONTROL_SOCKET"] is None

# No access log by default (gunicorn's and TF Serving's default too): formatting and writing the line
# costs a measurable share of the CPU of a small request (docs/benchmarks.md). The server's own access log
# (EMNIST_ACCESS_LOG: every protocol, with model, version and request id) is the one to switch on;
# GUNICORN_ACCESSLOG=- logs gunicorn's line for every HTTP request to stdout, with the time it took
# (%(M)s ms); a path, to that file.
accesslog = _settings["GUNICORN_ACCESSLOG"]
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
loglevel = _settings["GUNICORN_LOGLEVEL"]

# Heartbeat files on tmpfs: a disk-backed /tmp can stall the heartbeat and get healthy workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def on_starting(server):
    """Listen on the GraphPipe port too when EMNIST_GRAPHPIPE_PORT is set (GraphPipe's servers use :9000),
    and give the workers one folder for their metrics.

    A hook rather than ``bind`` above, so that it adds to whatever ``--bind`` the command line gives: the
    GraphPipe listener goes on the first bind's host; ``webapp.http.graphpipe`` (its ``PORT_ROUTES``)
    answers GraphPipe on every request that comes in on it.

    The metrics folder (``PROMETHEUS_MULTIPROC_DIR``, inherited by every worker) is made here, before any
    worker is forked, unless the environment names one already (the model server's launcher, or the
    operator); the one made here is removed when gunicorn exits.
    """
    if _settings["METRICS"]:
        server.emnist_metrics_dir = metrics.create_multiprocess_dir()
    port = _settings["GRAPHPIPE_PORT"]
    if port:
        first = server.cfg.bind[0]
        tcp = ":" in first and not first.startswith(("unix:", "fd://"))
        host = first.rsplit(":", 1)[0] if tcp else "127.0.0.1"
        server.cfg.set("bind", [*server.cfg.bind, f"{host}:{port}"])


def worker_exit(server, worker):
    """In the worker, as it exits: the counts it has not written yet go to the metrics folder."""
    metrics.flush()


def child_exit(server, worker):
    """A worker ended (stopped, restarted or killed): its live gauges leave the metrics, its counts stay."""
    metrics.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder ``on_starting`` made (none when the environment named one)."""
    metrics.remove_multiprocess_dir(getattr(server, "emnist_metrics_dir", None))
