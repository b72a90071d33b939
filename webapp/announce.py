"""The lines a person starting the model server needs: where to open it, once it answers.

``python -m webapp.model_server`` prints, on standard output and once the default model answers::

    serving model emnist version 4 on http://127.0.0.1:8000/: open it in a browser
    gRPC (TF Serving's PredictionService and ModelService, V2, health) on 127.0.0.1:8500

The REST line waits for ``/readyz`` to answer 200 (the version is the one it names); the gRPC line for
every gRPC worker to have started. Nothing here imports gRPC: the launcher forks gRPC workers later.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

#: The address a browser on this machine uses for a server bound to every interface.
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "[::1]", "": "127.0.0.1"}
READY_POLL_SECONDS = 0.5


def browser_url(bind: str) -> str | None:
    """``http://host:port/`` for a gunicorn bind (``HOST:PORT``, ``[IPv6]:PORT``); None for a unix socket
    or an inherited descriptor, which no browser opens."""
    if bind.startswith(("unix:", "fd://")):
        return None
    host, _, port = bind.rpartition(":")
    host = _LOOPBACK.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def rest_line(model: str, version: str, url: str | None, bind: str) -> str:
    where = f"on {url}: open it in a browser" if url else f"on {bind}"
    return f"serving model {model} version {version} {where}"


def grpc_line(address: str) -> str:
    return f"gRPC (TF Serving's PredictionService and ModelService, V2, health) on {address}"


def served_version(url: str, timeout: float = 2.0) -> tuple[str, str] | None:
    """(model, version) that ``/readyz`` at ``url`` names when it answers 200; None until then."""
    try:
        with urllib.request.urlopen(f"{url}readyz", timeout=timeout) as answer:  # noqa: S310 (http only)
            body = json.loads(answer.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    if body.get("status") != "ready":
        return None
    return str(body.get("model", "")), str(body.get("version", ""))


class Announcer:
    """Prints the REST line once ``/readyz`` answers (a thread polls it until then, or until ``stop``)."""

    def __init__(self, bind: str, say: Callable[[str], None]) -> None:
        self.bind = bind
        self.url = browser_url(bind)
        self.say = say
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.url is None:  # nothing to poll: say where it listens
            self.say(f"serving on {self.bind}")
            return
        self._thread = threading.Thread(target=self._run, name="announce", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.url is not None
        while not self._stop.is_set():
            served = served_version(self.url)
            if served is not None:
                self.say(rest_line(*served, self.url, self.bind))
                return
            self._stop.wait(READY_POLL_SECONDS)

    def stop(self) -> None:
        self._stop.set()
