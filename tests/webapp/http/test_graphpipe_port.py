"""GraphPipe on a port of its own (GRAPHPIPE_PORT): every path is GraphPipe there; the REST port is
unchanged."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from graphpipe import remote

from emnist_contract.tensors import NUM_PIXELS
from tests.support.paths import REPO, SERVED_MODEL
from tests.support.servers import serving_wsgi


@pytest.fixture
def two_ports(make_app) -> Iterator[tuple[str, str]]:
    """(REST URL, GraphPipe URL): one app served on two ports, the second its GRAPHPIPE_PORT."""
    with serving_wsgi() as graphpipe_server, serving_wsgi() as rest_server:
        app = make_app(GRAPHPIPE_PORT=graphpipe_server.server_port)
        graphpipe_server.app = rest_server.app = app
        yield (f"http://127.0.0.1:{rest_server.server_port}", f"http://127.0.0.1:{graphpipe_server.server_port}")


def test_graphpipe_port_answers_the_client_on_any_path(two_ports, validation_images, onnx_reference):
    _, graphpipe_url = two_ports
    x = validation_images[0][:8].reshape(-1, NUM_PIXELS) / 255.0
    expected = onnx_reference(x.astype(np.float32))
    for url in (graphpipe_url, graphpipe_url + "/", graphpipe_url + "/any/path"):
        np.testing.assert_allclose(remote.execute(url, x), expected, atol=1e-6)
    assert remote.get_input_names(graphpipe_url) == ["images"]


def test_graphpipe_port_probes_metadata_and_refusals(two_ports):
    _, graphpipe_url = two_ports
    assert requests.get(graphpipe_url + "/control/is_alive").text == "ok\n"
    assert requests.get(graphpipe_url + "/control/is_ready").text == "ok\n"
    document = requests.get(graphpipe_url).json()
    assert document["name"] == SERVED_MODEL and document["server"] == "emnist-serving"
    assert requests.put(graphpipe_url, data=b"x").status_code == 405
    garbage = requests.post(graphpipe_url, data=b"garbage")
    assert garbage.status_code == 400 and garbage.headers["Content-Type"] == "application/octet-stream"
    with pytest.raises(requests.HTTPError) as caught:
        remote.execute(graphpipe_url, np.zeros((2, 3)))
    assert caught.value.response.status_code == 400


def test_rest_port_is_unchanged(two_ports):
    rest_url, _ = two_ports
    answer = requests.post(f"{rest_url}/v1/models/{SERVED_MODEL}:predict",
                           json={"instances": [[0.0] * NUM_PIXELS]})
    assert answer.status_code == 200 and len(answer.json()["predictions"][0]) == 62
    assert "text/html" in requests.get(rest_url + "/").headers["Content-Type"]
    assert requests.get(rest_url + "/control/is_alive").status_code == 404


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_gunicorn_listens_on_the_graphpipe_port_too(validation_images):
    """gunicorn.conf.py adds the GraphPipe listener beside the command line's --bind."""
    rest_port, graphpipe_port = free_port(), free_port()
    env = dict(os.environ, EMNIST_MODEL_NAME=SERVED_MODEL, EMNIST_ENGINE="onnxruntime", WEB_CONCURRENCY="1",
               EMNIST_FILE_SYSTEM_POLL_SECONDS="0", EMNIST_GRAPHPIPE_PORT=str(graphpipe_port))
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(
        [str(gunicorn), "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{rest_port}", "wsgi:app"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    graphpipe_url = f"http://127.0.0.1:{graphpipe_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(graphpipe_url + "/control/is_ready", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # bound: the worker is still loading
                pass
            assert server.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "the GraphPipe port did not become ready in 60 s"
            time.sleep(0.2)
        x = validation_images[0][:4]
        scores = remote.execute(graphpipe_url, x)
        rest = requests.post(f"http://127.0.0.1:{rest_port}/v1/models/{SERVED_MODEL}:predict",
                             json={"instances": (x.reshape(-1, NUM_PIXELS) / 255.0).tolist()}).json()
        np.testing.assert_allclose(scores, rest["predictions"], atol=1e-6)
    finally:
        server.terminate()
        server.wait(30)


def test_the_port_answers_what_the_route_answers(two_ports, validation_images):
    """GraphPipe's port and its route on the REST port run the same handler: the same bytes, refusals too."""
    from graphpipe import convert

    rest_url, graphpipe_url = two_ports
    pixels = validation_images[0][:3].reshape(-1, NUM_PIXELS)
    tensors = [(pixels / 255.0).astype(np.float32), pixels.astype(np.uint8), np.zeros((2, 3), np.float32),
               np.zeros((2, NUM_PIXELS), np.int32)]
    bodies = [convert.serialize_infer_request(convert.InferReq(None, [tensor], None, None))
              for tensor in tensors]
    urls = (f"{rest_url}/graphpipe/{SERVED_MODEL}", graphpipe_url)
    for body in [*bodies, convert.serialize_metadata_request(), b"garbage"]:
        answers = [requests.post(url, data=body) for url in urls]
        assert answers[0].status_code == answers[1].status_code
        assert answers[0].headers["Content-Type"] == answers[1].headers["Content-Type"]
        assert answers[0].content == answers[1].content
