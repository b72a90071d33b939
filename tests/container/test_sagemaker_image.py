"""Amazon SageMaker's container contract, in the image: ``IMAGE serve`` on 8080, ``/ping`` and
``/invocations``, the model from ``/opt/ml/model`` in either layout, a clean stop on SIGTERM within 30 s."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from bench.containers import Container, publish_tree
from tests.container.conftest import target_image
from tests.support.paths import encode_image, served_version_dir

pytestmark = pytest.mark.container

#: SageMaker sends SIGKILL this long after SIGTERM.
SAGEMAKER_STOP_SECONDS = 30


def invoke(container: Container, body: bytes, content_type: str,
           accept: str | None = None) -> tuple[int, str, bytes]:
    headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
    request = urllib.request.Request(container.url(8080, "/invocations"), body, headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers.get_content_type(), answer.read()
    except urllib.error.HTTPError as refusal:
        return refusal.code, refusal.headers.get_content_type(), refusal.read()


@pytest.fixture
def images(validation_images) -> np.ndarray:
    pixels, _ = validation_images
    return pixels[:4].reshape(4, 784).astype(np.float32) / 255.0


# Both images: slim serves the version's model.onnx, full its SavedModel with TensorFlow; the second image
# needs one layout only (the layout is read by the same code in both).
@pytest.mark.parametrize(("target", "layout"), [("slim", "single-version"), ("slim", "version-folders"),
                                                ("full", "version-folders")])
def test_serve_answers_ping_and_invocations(base_image, built_images, tmp_path, images, onnx_reference,
                                            target, layout):
    model_dir = tmp_path / "model"
    publish_tree(served_version_dir(), model_dir if layout == "single-version" else model_dir / "1")
    image = target_image(target, base_image, built_images)
    container = Container(image, command=["serve"], env={"WEB_CONCURRENCY": "1"}, ports=(8080,),
                          volumes=[f"{model_dir}:/opt/ml/model:ro"]).start()
    try:
        assert json.loads(container.wait_http(8080, "/ping"))["status"] == "ready"
        expected = onnx_reference(images)

        status, media_type, body = invoke(container, json.dumps({"instances": images.tolist()}).encode(),
                                          "application/json")
        assert (status, media_type) == (200, "application/json"), body
        np.testing.assert_allclose(json.loads(body)["predictions"], expected, rtol=1e-4, atol=1e-5)

        buffer = io.BytesIO()
        np.save(buffer, images)
        status, media_type, body = invoke(container, buffer.getvalue(), "application/x-npy",
                                          "application/x-npy")
        assert (status, media_type) == (200, "application/x-npy"), body
        np.testing.assert_allclose(np.load(io.BytesIO(body)), expected, rtol=1e-4, atol=1e-5)

        png = encode_image((images[0].reshape(28, 28) * 255).round().astype(np.uint8))
        status, _, body = invoke(container, png, "image/png", "application/json")
        assert status == 200, body
        assert int(np.argmax(json.loads(body)["predictions"][0])) == int(np.argmax(expected[0]))

        assert invoke(container, b"1,2,3", "text/csv")[0] == 415
        assert invoke(container, png, "image/png", "text/csv")[0] == 406

        container.signal("TERM")
        assert container.wait_exit(SAGEMAKER_STOP_SECONDS) == 0, container.logs()
    finally:
        container.remove()


def test_serve_refuses_an_empty_model_directory(slim_image, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir(mode=0o755)
    container = Container(slim_image, command=["serve"], ports=(8080,),
                          volumes=[f"{model_dir}:/opt/ml/model:ro"]).start()
    try:
        assert container.wait_exit(60) != 0
        assert "holds nothing" in container.logs()
    finally:
        container.remove()
