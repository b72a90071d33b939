"""compose.yaml under podman-compose: one front end, two model-server replicas on one read-only models
folder, haproxy in front. Under a bounded load through the front end, killing one replica loses no
request (the other answers it); a version published into the shared folder is served by both."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request

import pytest

from bench.compose_stack import REPLICAS, ComposeStack
from bench.containers import podman, publish_tree
from tests.support.paths import served_version_dir

pytestmark = pytest.mark.container

CLIENTS = 4
#: Load before the kill, and after it.
BEFORE_SECONDS, AFTER_SECONDS = 4.0, 8.0


@pytest.fixture(scope="module")
def stack(slim_image, haproxy_image, tmp_path_factory):
    if shutil.which("podman-compose") is None:
        pytest.fail("podman-compose is not installed (make system-packages installs it)")
    workdir = tmp_path_factory.mktemp("compose")
    models = workdir / "models"
    publish_tree(served_version_dir(), models / "emnist" / "1")
    models.chmod(0o755)
    running = ComposeStack(slim_image, haproxy_image, models, workdir).up()
    try:
        running.wait_ready()
        yield running
    finally:
        running.down()


def predict_once(url: str, body: bytes, method: str = "POST") -> int | str | tuple[int, str]:
    """200, or what went wrong; a GET of /readyz: (200, the version that answered)."""
    request = urllib.request.Request(url, body if method == "POST" else None,
                                     {"Content-Type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            data = answer.read()
            return answer.status if method == "POST" else (answer.status, json.loads(data)["version"])
    except urllib.error.HTTPError as refusal:
        return f"{refusal.code} {refusal.read()[:200]!r}"
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"


def test_a_published_version_is_served_by_both_replicas(stack):
    staging = stack.models_dir / "emnist" / ".2.tmp"
    publish_tree(served_version_dir(), staging)
    staging.rename(stack.models_dir / "emnist" / "2")
    deadline = time.monotonic() + 90
    versions: dict[str, list[str]] = {}
    while time.monotonic() < deadline:
        versions = {replica: stack.replica_versions(replica) for replica in REPLICAS}
        if all(found == ["2"] for found in versions.values()):
            break
        time.sleep(1)
    assert all(found == ["2"] for found in versions.values()), versions
    # Through the front end and the load balancer: the replicas' gRPC workers answer version 2 too.
    answers = []
    while time.monotonic() < deadline:
        answers.append(predict_once(stack.url("/readyz"), b"", method="GET"))
        if answers[-1] == (200, "2") and answers[-2:-1] == [(200, "2")]:
            break
        time.sleep(0.5)
    assert answers[-1] == (200, "2"), answers[-5:]
    assert all(answer[0] == 200 for answer in answers), answers


def test_killing_a_replica_loses_no_request(stack, validation_images):
    pixels, _ = validation_images
    body = json.dumps({"instances": (pixels[:1].reshape(1, 784) / 255.0).tolist()}).encode()
    url = stack.url("/predict")
    results: list[tuple[float, int | str]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + BEFORE_SECONDS + AFTER_SECONDS

    def client() -> None:
        while time.monotonic() < stop_at:
            outcome = predict_once(url, body)
            with lock:
                results.append((time.monotonic(), outcome))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(BEFORE_SECONDS)
    killed_at = time.monotonic()
    podman("kill", "--signal", "KILL", stack.container(REPLICAS[0]))
    for thread in threads:
        thread.join(timeout=AFTER_SECONDS + 60)
    failed = [outcome for _, outcome in results if outcome != 200]
    after = [outcome for when, outcome in results if when > killed_at + 1]
    assert not failed, f"{len(failed)} of {len(results)} requests failed: {failed[:5]}"
    assert len(after) > CLIENTS, "no load ran after the kill"
