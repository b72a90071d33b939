"""What ``python -m webapp.model_server`` says when it starts: where to open it, and nothing alarming.

The real launcher with the tensorflow engine (the one whose start printed a CUDA error, oneDNN and CPU
notices and a deprecation warning in every process): its standard output names the page's address with
the version served and the gRPC address, once each; its standard error holds none of that noise, unless
``--verbose``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.support.grpc_servers import free_port, server_settings
from tests.support.paths import REPO, SERVED_MODEL, served_version_dir
from webapp.announce import browser_url, grpc_line, rest_line

START_SECONDS = 180.0
#: What TensorFlow printed at start-up (each line, once per process).
NOISE = ("cuInit", "CUDA", "oneDNN", "cpu_feature_guard", "absl::InitializeLog", "is deprecated",
         "Instructions for updating", "Restoring parameters")


@pytest.mark.parametrize(("bind", "url"), [
    ("127.0.0.1:8000", "http://127.0.0.1:8000/"),
    ("0.0.0.0:8080", "http://127.0.0.1:8080/"),  # every interface: this machine's browser uses loopback
    ("[::]:8080", "http://[::1]:8080/"),
    ("[::1]:9000", "http://[::1]:9000/"),
    ("example.internal:80", "http://example.internal:80/"),
    ("unix:/run/emnist.sock", None),
    ("fd://3", None),
])
def test_the_address_a_browser_opens(bind, url):
    assert browser_url(bind) == url


def test_the_lines_name_the_model_version_and_both_addresses():
    assert rest_line("emnist", "3", "http://127.0.0.1:8000/", "127.0.0.1:8000") == (
        "serving model emnist version 3 on http://127.0.0.1:8000/: open it in a browser")
    assert rest_line("emnist", "3", None, "unix:/run/emnist.sock") == (
        "serving model emnist version 3 on unix:/run/emnist.sock")
    assert grpc_line("127.0.0.1:8500").endswith(" on 127.0.0.1:8500")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="the tensorflow engine's noise")
def test_start_up_says_where_to_open_the_server_and_prints_no_tensorflow_noise():
    rest_port, grpc_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("EMNIST_") and key != "TF_CPP_MIN_LOG_LEVEL"}
    env.update({f"EMNIST_{key}": str(int(value) if isinstance(value, bool) else value)
                for key, value in server_settings(ENGINE="tensorflow", DRAIN_SECONDS=0).items()})
    env["WEB_CONCURRENCY"] = "1"
    command = [sys.executable, "-m", "webapp.model_server", "--port", str(grpc_port), "--rest_api_port",
               str(rest_port), "--grpc_workers", "1"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(process.stderr), daemon=True)
    reader.start()
    lines: list[str] = []
    try:
        deadline = time.monotonic() + START_SECONDS
        while len(lines) < 2:
            assert time.monotonic() < deadline and process.poll() is None, "".join(errors)[-3000:]
            lines.append(process.stdout.readline().rstrip("\n"))
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, "".join(errors)[-3000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    reader.join(10)
    lines += process.stdout.read().splitlines()

    version = served_version_dir().name
    assert sorted(lines) == sorted([
        rest_line(SERVED_MODEL, version, f"http://127.0.0.1:{rest_port}/", f"127.0.0.1:{rest_port}"),
        grpc_line(f"127.0.0.1:{grpc_port}"),
    ])
    log = "".join(errors)
    assert "successfully loaded servable version" in log  # the server's own log is still there
    assert [line for line in log.splitlines() if any(noise in line for noise in NOISE)] == []


QUIETED = """
import logging, os, sys, warnings
from webapp.third_party_noise import quiet_third_party
quiet_third_party(sys.argv[1] == "verbose")
warnings.warn_explicit("old", DeprecationWarning, "x.py", 1, module="tensorflow.python.saved_model")
print(os.environ.get("TF_CPP_MIN_LOG_LEVEL"), logging.getLogger("tensorflow").getEffectiveLevel())
"""


@pytest.mark.parametrize(("mode", "stdout", "warned"), [
    ("quiet", "3 40", False),
    ("verbose", "None 30", True),  # --verbose / EMNIST_VERBOSE: nothing changed
])
def test_third_party_noise_is_silenced_unless_verbose(mode, stdout, warned):
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL",
                                                                          "PYTHONWARNINGS")}
    done = subprocess.run([sys.executable, "-W", "default", "-c", QUIETED, mode], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == stdout.split()
    assert ("DeprecationWarning: old" in done.stderr) == warned, done.stderr


@pytest.mark.slow
def test_a_sighup_during_the_start_reloads_instead_of_killing_gunicorn(tmp_path):
    """SIGHUP is passed on to gunicorn; one arriving before gunicorn's arbiter has its handler (its first
    second) would stop it with the signal's default action, and the launcher with it."""
    import psutil

    from tests.support.grpc_servers import ModelServerProcess

    rest_port = free_port()
    server = ModelServerProcess(tmp_path / "server.log", free_port(), rest_port=rest_port, DRAIN_SECONDS=0)
    try:
        deadline = time.monotonic() + 60
        while not any("gunicorn" in " ".join(child.cmdline())
                      for child in psutil.Process(server.process.pid).children()):
            assert time.monotonic() < deadline and server.process.poll() is None, server.log()
            time.sleep(0.02)
        server.process.send_signal(signal.SIGHUP)
        server.wait_serving()
        import urllib.request

        deadline = time.monotonic() + START_SECONDS
        while True:
            assert server.process.poll() is None, server.log()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/readyz", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.2)
        assert server.terminate() == 0, server.log()
    finally:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGKILL)
