"""gunicorn settings for the EMNIST app (``make run``); each can be overridden on the command line or
with GUNICORN_CMD_ARGS, and the worker/thread counts with WEB_CONCURRENCY / GUNICORN_THREADS.
"""

import os

# Loopback only by default: put a reverse proxy (TLS, buffering of slow clients) in front for the world.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Inference is CPU-bound and the machine has 2 cores: one worker process per core. More processes only
# add memory (each TensorFlow worker holds ~600 MB; onnxruntime ~70 MB) and context switches.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

# Threads per worker: the model call and orjson/numpy release the GIL for much of a request, so a few
# threads let one worker parse one request while another runs the model, keep HTTP connections alive
# between requests (sync workers close them), and give the dynamic batcher (EMNIST_ENABLE_BATCHING)
# concurrent requests to merge. Not more: the work is CPU-bound, extra threads just queue.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# No preload: TensorFlow starts thread pools when a model loads and they do not survive fork(), and the
# model registry runs a watcher thread; so every worker builds the app (and loads the model) itself after
# the fork. The price is one model load per worker at start-up (~3 s TensorFlow, ~0.1 s onnxruntime).
preload_app = False

# A worker silent for this long is killed and replaced. Loading the SavedModel takes a few seconds and a
# batch of 1,000 images well under one, so 60 s only catches a truly stuck worker.
timeout = 60
# On restart/stop, requests in flight get this long to finish.
graceful_timeout = 30
# Keep-alive connections (load generators, TF Serving clients with sessions) stay open between requests.
keepalive = 5

# Request line/header limits stay at gunicorn's defaults; the body limit is the app's MAX_CONTENT_LENGTH.

# No access log by default (gunicorn's and TF Serving's default too): formatting and writing the line was
# 14 % of the samples holding the GIL in a py-spy profile of the workers under batch-128 load.
# GUNICORN_ACCESSLOG=- logs every request to stdout, with the time it took (%(M)s ms); a path, to that file.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")

# Heartbeat files on tmpfs: a disk-backed /tmp can stall the heartbeat and get healthy workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def on_starting(server):
    """Listen on the GraphPipe port too when EMNIST_GRAPHPIPE_PORT is set (GraphPipe's servers use :9000).

    A hook rather than ``bind`` above, so that it adds to whatever ``--bind`` the command line gives: the
    GraphPipe listener goes on the first bind's host; ``webapp.http.graphpipe_port`` answers GraphPipe on
    every request that comes in on it.
    """
    from webapp.settings import load_settings

    port = load_settings()[0]["GRAPHPIPE_PORT"]
    if port:
        first = server.cfg.bind[0]
        tcp = ":" in first and not first.startswith(("unix:", "fd://"))
        host = first.rsplit(":", 1)[0] if tcp else "127.0.0.1"
        server.cfg.set("bind", [*server.cfg.bind, f"{host}:{port}"])
