"""Every file of ``examples/`` run as a newcomer runs it, ``python examples/<file>.py``, against the whole
model server started as ``make run`` starts it (``python -m webapp.model_server``, REST and gRPC) on free
loopback ports that the examples take from ``MODEL_SERVER_URL`` and ``MODEL_SERVER_GRPC``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.grpc_servers import ModelServerProcess, free_port
from tests.support.paths import REPO

pytestmark = pytest.mark.slow
EXAMPLES = REPO / "examples"
#: The examples that send the first validation images and print "image i: expected X, answered Y".
ARRAY_EXAMPLES = ["tf_serving_rest.py", "tf_serving_grpc.py", "open_inference_http.py",
                  "open_inference_grpc.py", "graphpipe_client.py"]
ANSWER = re.compile(r"^image (\d+): expected (\S), answered (\S) \((0\.\d\d|1\.00)\)$", re.MULTILINE)
RUN_SECONDS = 120


def run_example(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=RUN_SECONDS)


@pytest.fixture(scope="module")
def server_env(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The model server (one gunicorn worker, one gRPC worker, onnxruntime); the examples' variables."""
    grpc_port, rest_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("examples") / "server.log"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEB_CONCURRENCY", "1")
        server = ModelServerProcess(log, grpc_port, rest_port, workers=1)
    with server:
        server.wait_serving()
        url = f"http://127.0.0.1:{rest_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass  # gunicorn is not listening yet
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        yield {"MODEL_SERVER_URL": url, "MODEL_SERVER_GRPC": server.target}


@pytest.fixture(scope="module")
def array_answers(server_env) -> dict[str, list[tuple[str, ...]]]:
    """Each array example's printed (index, expected, answered) lines."""
    answers = {}
    for name in ARRAY_EXAMPLES:
        completed = run_example(name, env=server_env)
        assert completed.returncode == 0, f"{name}:\n{completed.stdout}\n{completed.stderr[-3000:]}"
        answers[name] = [match[:3] for match in ANSWER.findall(completed.stdout)]
    return answers


@pytest.mark.parametrize("name", ARRAY_EXAMPLES)
def test_each_protocols_example_classifies_the_validation_images(array_answers, name):
    answers = array_answers[name]
    assert [int(index) for index, _, _ in answers] == list(range(8))
    assert sum(expected == answered for _, expected, answered in answers) >= 5, answers


def test_every_protocol_gives_the_same_answers(array_answers):
    """One model behind five clients: the same label for each image, whatever carried it."""
    first = array_answers[ARRAY_EXAMPLES[0]]
    for name in ARRAY_EXAMPLES[1:]:
        assert array_answers[name] == first, name


def test_the_predict_example_reads_each_file_as_its_character(server_env):
    completed = run_example("predict_file.py", env=server_env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    answered = re.findall(r"^(\S+)_\w+_0\.png: (\S) \((?:0\.\d\d|1\.00)\); top 3: ", completed.stdout, re.M)
    assert answered == [("7", "7"), ("A", "A"), ("g", "g")], completed.stdout


def test_an_example_without_a_server_says_so_in_one_line():
    completed = run_example("tf_serving_rest.py", "--url", f"http://127.0.0.1:{free_port()}")
    assert completed.returncode == 1
    assert completed.stderr.strip().endswith("start one with `make run`"), completed.stderr
    assert "Traceback" not in completed.stderr


def test_an_example_prints_the_servers_refusal(server_env):
    completed = run_example("tf_serving_rest.py", "--model", "nope", env=server_env)
    assert completed.returncode == 1
    assert completed.stderr.strip() == '404: {"error":"Servable not found for request: Latest(nope)"}'


def test_the_remote_front_end_example_serves_through_its_two_model_servers():
    ports = [free_port(), free_port()]
    env = {"EMNIST_ENGINE": "onnxruntime", "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0", "EMNIST_GRPC_WORKERS": "1",
           "WEB_CONCURRENCY": "1"}
    completed = run_example("remote_front_end.py", "--ports", *map(str, ports),
                            "--rest-port", str(free_port()), env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    # The servers share the example's standard output: a front end's announcement may come after the answer.
    answers = [line for line in completed.stdout.splitlines() if line.startswith("A_upper_0.png: ")]
    assert len(answers) == 1, completed.stdout
    line = answers[0]
    assert line.startswith("A_upper_0.png: A ("), line
    assert re.search(r"'engine': 'grpc://127\.0\.0\.1:(\d+)'", line)[1] in map(str, ports)


def test_every_example_is_run_here_and_named_in_the_readme():
    tested = {*ARRAY_EXAMPLES, "predict_file.py", "remote_front_end.py"}
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in sorted(tested):
        assert f"examples/{name}" in readme, name


def test_the_readmes_front_end_block_leaves_make_runs_ports_alone():
    """The README's remote block and examples/remote_front_end.py use the same ports, none of make run's."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    after = readme.split("front end to separate model servers", 1)[1]
    block = after.split("```bash\n", 1)[1].split("```", 1)[0]
    ports = {int(port) for port in re.findall(r"(?:--port |--rest_api_port |127\.0\.0\.1:)(\d+)", block)}
    assert ports - {0} == {8600, 8610, 8100}  # 0: that server's REST is off
    example = (EXAMPLES / "remote_front_end.py").read_text(encoding="utf-8")
    assert "default=[8600, 8610]" in example and "default=8100" in example
