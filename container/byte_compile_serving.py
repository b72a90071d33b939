"""Byte-compile what serving imports, and check the image's venv serves (run as the last build step).

The dependencies were installed without bytecode: compiling every module of TensorFlow (or of any large
dependency) would add tens of MB the server never reads. Instead this imports the serving path the way the
running server does (the launcher, gunicorn and its worker class, the gRPC servers, the front end's remote
clients), builds the app over the bundled model, and answers a prediction through REST and an uploaded
picture (the upload preprocessing, numpy and Pillow only): Python writes the bytecode of exactly the
modules imported. The runtime user cannot write there, so a module imported later
is compiled in memory, as without bytecode at all. The project's own code is compiled whole.

``python3 container/byte_compile_serving.py MODEL_BASE_PATH`` (EMNIST_ENGINE chooses the engine checked).
"""

from __future__ import annotations

import compileall
import importlib
import io
import os
import sys
from pathlib import Path

APP = Path("/app")
#: What the processes of the server import beyond the app itself (each process its part).
ENTRY_MODULES = (
    "webapp.container_entrypoint",
    "webapp.container_healthcheck",
    "webapp.model_server",
    "webapp.gunicorn_conf",
    "webapp.http.gunicorn_worker",
    "webapp.grpc.workers",
    "webapp.grpc.server",
    "webapp.remote.service",
    "webapp.remote.grpc_client",
    "webapp.remote.http_client",
    "gunicorn.app.wsgiapp",
    "gunicorn.arbiter",
    "gunicorn.workers.ggevent",
    "grpc_health.v1.health",
)


def drawn_bar() -> bytes:
    """A PNG of a dark bar on light paper, larger than 28x28: the whole upload preprocessing runs on it."""
    from PIL import Image, ImageDraw

    paper = Image.new("L", (160, 200), 235)
    ImageDraw.Draw(paper).rectangle((70, 30, 86, 170), fill=25)
    buffer = io.BytesIO()
    paper.save(buffer, format="PNG")
    return buffer.getvalue()


def main(model_base_path: str) -> int:
    compileall.compile_dir(APP, quiet=1)
    os.environ["EMNIST_MODEL_BASE_PATH"] = model_base_path
    for module in ENTRY_MODULES:
        importlib.import_module(module)
    from webapp.http.app import create_app

    app = create_app({"FILE_SYSTEM_POLL_SECONDS": 0})
    client = app.test_client()
    ready = client.get("/readyz")
    prediction = client.post("/v1/models/emnist:predict", json={"instances": [[0.0] * 784]})
    upload = client.post("/predict", data={"image": [(io.BytesIO(drawn_bar()), "bar.png")]},
                         content_type="multipart/form-data")
    page = client.get("/")
    app.extensions["serving_core"].stop()
    for name, answer in (("/readyz", ready), (":predict", prediction), ("/predict", upload), ("/", page)):
        if answer.status_code != 200:
            print(f"the image does not serve: {name} answered {answer.status_code} {answer.data[:300]!r}",
                  file=sys.stderr)
            return 1
    print(f"serving checked: {ready.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
