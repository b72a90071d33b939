"""bench/grpc_load.py in its quick mode: our model server under h2load with gRPC framing (figures printed,
never asserted), and the gRPC framing of the request bodies it sends."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np

from tests.support.paths import REPO


def test_grpc_load_quick_runs_every_cell_without_errors():
    assert shutil.which("h2load"), "h2load is missing: make system-packages (Debian's nghttp2-client)"
    result = subprocess.run([sys.executable, str(REPO / "bench" / "grpc_load.py"), "--quick"], cwd=REPO,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, (result.stdout[-1000:], result.stderr[-3000:])
    report = json.loads(result.stdout)
    assert set(report["cells"]) == {"grpc_b1_c1", "grpc_b1_c8", "grpc_b128_c8"}
    for cell in report["cells"].values():
        assert cell["client"] == "h2load"
        assert cell["requests"] > 0 and cell["errors"] == 0, cell
        assert set(cell["latency_ms"]) == {"p50", "p90", "p99"}


def test_request_bodies_are_length_prefixed_predict_requests():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from grpc_load import grpc_frame, predict_request, validation_images
    finally:
        sys.path.remove(str(REPO / "bench"))
    from tensorflow_serving.apis import predict_pb2

    images = validation_images(3)
    frame = grpc_frame(predict_request(images).SerializeToString())
    assert frame[0] == 0 and int.from_bytes(frame[1:5], "big") == len(frame) - 5
    decoded = predict_pb2.PredictRequest.FromString(frame[5:])
    tensor = decoded.inputs["images"]
    assert [d.size for d in tensor.tensor_shape.dim] == [3, 784]
    with np.load(REPO / "data" / "validation.npz") as data:
        expected = data["images"][:3].reshape(3, 784) / 255.0
    sent = np.frombuffer(tensor.tensor_content, "<f4").reshape(3, 784)
    np.testing.assert_allclose(sent, expected, atol=1e-6)
