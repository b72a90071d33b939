"""inference.GRPCInferenceService on a grpc.server of the test's own: tritonclient's gRPC client works
unchanged, and every RPC and refusal answers with the protocol's status codes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.tensors import NUM_PIXELS
from serving_core.payloads.limits import ServerLimits
from serving_core.server_core import ServerCore
from tests.support.paths import MODELS, SERVED_MODEL, served_version_dir
from webapp.grpc import v2_servicer
from webapp.grpc.v2 import open_inference_grpc_pb2 as pb
from webapp.grpc.v2 import open_inference_grpc_pb2_grpc as pb_grpc
from webapp.settings import load_settings

LIMITS = ServerLimits(max_instances=64, max_image_pixels=1_000_000)
#: The version the tests serve: the newest of the bundled model.
VERSION = served_version_dir().name


def start_core(start: bool) -> ServerCore:
    settings, _ = load_settings({"MODEL_BASE_PATH": str(MODELS / SERVED_MODEL), "MODEL_NAME": SERVED_MODEL,
                                 "ENGINE": "onnxruntime", "FILE_SYSTEM_POLL_SECONDS": 0,
                                 "MODEL_RELOAD_ON_SIGHUP": False}, environ={})
    core = ServerCore(settings.core_options())
    if start:
        core.start()
    return core


def serve(core: ServerCore, limits: ServerLimits = LIMITS) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    v2_servicer.add_to_server(server, core.service, limits)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    core = start_core(True)
    server, target = serve(core)
    yield target
    server.stop(None)
    core.stop()


@pytest.fixture(scope="module")
def triton(address) -> Iterator[grpcclient.InferenceServerClient]:
    client = grpcclient.InferenceServerClient(address)
    yield client
    client.close()


@pytest.fixture(scope="module")
def stub(address) -> Iterator[pb_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(address) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


@pytest.fixture(scope="module")
def pixels(validation_images) -> np.ndarray:
    return validation_images[0][:16]


def images(array: np.ndarray, datatype: str, name: str = "images") -> grpcclient.InferInput:
    return grpcclient.InferInput(name, list(array.shape), datatype).set_data_from_numpy(array)


def test_health_and_metadata(triton):
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.is_model_ready(SERVED_MODEL)
    assert triton.is_model_ready(SERVED_MODEL, VERSION)
    assert not triton.is_model_ready(SERVED_MODEL, "99")
    assert not triton.is_model_ready("nope")
    server = triton.get_server_metadata(as_json=True)
    assert server["name"] == "emnist-serving" and server["version"] == "0.3.0"
    metadata = triton.get_model_metadata(SERVED_MODEL, as_json=True)
    assert metadata["name"] == SERVED_MODEL and metadata["versions"] == [VERSION]
    assert metadata["platform"] == "onnx_onnxv1"
    assert metadata["inputs"] == [{"name": "images", "datatype": "FP32", "shape": ["-1", str(NUM_PIXELS)]}]
    assert metadata["outputs"] == [{"name": "scores", "datatype": "FP32", "shape": ["-1", str(NUM_CLASSES)]}]
    assert triton.get_model_metadata(SERVED_MODEL, VERSION, as_json=True) == metadata
    with pytest.raises(InferenceServerException, match="Latest\\(nope\\)") as caught:
        triton.get_model_metadata("nope")
    assert caught.value.status() == "StatusCode.NOT_FOUND"


@pytest.mark.parametrize(("datatype", "dtype", "shape"), [
    ("FP32", np.float32, (-1, NUM_PIXELS)), ("FP32", np.float32, (-1, 28, 28)),
    ("FP64", np.float64, (-1, 1, NUM_PIXELS)), ("FP16", np.float16, (-1, NUM_PIXELS)),
    ("UINT8", np.uint8, (-1, 28, 28)),
])
def test_model_infer_raw_contents(triton, pixels, onnx_reference, datatype, dtype, shape):
    array = (pixels if dtype == np.uint8 else pixels / 255.0).astype(dtype).reshape(shape)
    result = triton.infer(SERVED_MODEL, [images(array, datatype)], request_id="req-1",
                          outputs=[grpcclient.InferRequestedOutput("scores")])
    scale = 255 if dtype == np.uint8 else 1
    expected = onnx_reference(array.reshape(-1, NUM_PIXELS).astype(np.float32) / np.float32(scale))
    np.testing.assert_allclose(result.as_numpy("scores"), expected, atol=1e-6)
    response = result.get_response()
    assert response.model_name == SERVED_MODEL and response.model_version == VERSION
    assert response.id == "req-1"


def test_all_outputs_by_default_and_a_version(triton, pixels, onnx_reference):
    x = pixels.reshape(-1, NUM_PIXELS).astype(np.float32) / 255
    result = triton.infer(SERVED_MODEL, [images(x, "FP32")], model_version=VERSION)
    assert [output.name for output in result.get_response().outputs] == ["scores"]
    np.testing.assert_allclose(result.as_numpy("scores"), onnx_reference(x), atol=1e-6)


def test_typed_contents(stub, pixels, onnx_reference):
    x = pixels[:2].reshape(-1, NUM_PIXELS).astype(np.float32) / 255
    request = pb.ModelInferRequest(model_name=SERVED_MODEL)
    request.inputs.add(name="images", datatype="FP32", shape=[2, NUM_PIXELS]).contents.fp32_contents.extend(
        x.reshape(-1).tolist())
    response = stub.ModelInfer(request)
    scores = np.frombuffer(response.raw_output_contents[0], "<f4").reshape(tuple(response.outputs[0].shape))
    np.testing.assert_allclose(scores, onnx_reference(x), atol=1e-6)
    request = pb.ModelInferRequest(model_name=SERVED_MODEL)
    request.inputs.add(name="images", datatype="UINT8", shape=[2, 28, 28]).contents.uint_contents.extend(
        pixels[:2].reshape(-1).tolist())
    response = stub.ModelInfer(request)
    np.testing.assert_allclose(np.frombuffer(response.raw_output_contents[0], "<f4").reshape(2, -1),
                               onnx_reference(pixels[:2].reshape(2, -1) / np.float32(255)), atol=1e-6)


@pytest.mark.parametrize(("inputs", "outputs", "model", "status", "message"), [
    (lambda x: [images(x, "FP32", "pixels")], None, SERVED_MODEL, "INVALID_ARGUMENT",
     "unexpected inference input 'pixels'"),
    (lambda x: [images(x[:, :700].copy(), "FP32")], None, SERVED_MODEL, "INVALID_ARGUMENT",
     "does not hold images of 784 pixels"),
    (lambda x: [images((x * 255).astype(np.int32), "INT32")], None, SERVED_MODEL, "INVALID_ARGUMENT",
     "int32 are not accepted"),
    (lambda x: [images(x, "FP32"), images(x, "FP32")], None, SERVED_MODEL, "INVALID_ARGUMENT",
     "expected 1 input"),
    (lambda x: [images(np.zeros((65, NUM_PIXELS), np.float32), "FP32")], None, SERVED_MODEL,
     "INVALID_ARGUMENT", "MAX_INSTANCES=64"),
    (lambda x: [images(np.full_like(x, np.inf), "FP32")], None, SERVED_MODEL, "INVALID_ARGUMENT",
     "NaN or infinite"),
    (lambda x: [images(x, "FP32")], ["classes"], SERVED_MODEL, "INVALID_ARGUMENT",
     "unexpected inference output 'classes'"),
    (lambda x: [images(x, "FP32")], ["scores", "scores"], SERVED_MODEL, "INVALID_ARGUMENT", "more than once"),
    (lambda x: [images(x, "FP32")], None, "nope", "NOT_FOUND", "Servable not found"),
])
def test_refusals_with_tritonclient(triton, pixels, inputs, outputs, model, status, message):
    x = pixels.reshape(-1, NUM_PIXELS).astype(np.float32) / 255
    requested = None if outputs is None else [grpcclient.InferRequestedOutput(name) for name in outputs]
    with pytest.raises(InferenceServerException, match=message) as caught:
        triton.infer(model, inputs(x), outputs=requested)
    assert caught.value.status() == f"StatusCode.{status}"


def raw_request(**changes) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=SERVED_MODEL)
    request.inputs.add(name="images", datatype="FP32", shape=[1, NUM_PIXELS])
    request.raw_input_contents.append(np.zeros(NUM_PIXELS, "<f4").tobytes())
    for change in changes.values():
        change(request)
    return request


@pytest.mark.parametrize(("request_", "message"), [
    (raw_request(extra=lambda r: r.raw_input_contents.append(b"")), "holds 2 buffers for 1 inputs"),
    (raw_request(both=lambda r: r.inputs[0].contents.fp32_contents.append(0.0)), "contents must not be set"),
    (raw_request(short=lambda r: r.raw_input_contents.__setitem__(0, b"\0" * 12)), "needs 3136 bytes"),
    (raw_request(shm=lambda r: r.inputs[0].parameters["shared_memory_region"].MergeFrom(
        pb.InferParameter(string_param="region"))),
     "input 'images': parameter 'shared_memory_region' is not supported: this server does not implement the "
     "shared memory extension: send the tensor's data"),
    (raw_request(cls=lambda r: r.outputs.add(name="scores").parameters["classification"].MergeFrom(
        pb.InferParameter(int64_param=3))),
     "output 'scores': parameter 'classification' is not supported: this server does not implement the "
     "classification extension: ask for the scores"),
])
def test_refusals_of_raw_requests(stub, request_, message):
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request_)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()


def test_typed_contents_refusals(stub):
    for datatype, message in [("FP16", "must be sent in raw_input_contents"),
                              ("BYTES", "datatype 'BYTES' is not accepted")]:
        request = pb.ModelInferRequest(model_name=SERVED_MODEL)
        request.inputs.add(name="images", datatype=datatype, shape=[1, NUM_PIXELS])
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in caught.value.details()
    request = pb.ModelInferRequest(model_name=SERVED_MODEL)
    request.inputs.add(name="images", datatype="UINT8", shape=[1, NUM_PIXELS]).contents.uint_contents.extend(
        [256] * NUM_PIXELS)
    with pytest.raises(grpc.RpcError, match="from 0 to 255"):
        stub.ModelInfer(request)


def test_before_any_model_is_loaded():
    core = start_core(False)
    server, target = serve(core)
    try:
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            assert stub.ServerLive(pb.ServerLiveRequest()).live
            assert not stub.ServerReady(pb.ServerReadyRequest()).ready
            assert not stub.ModelReady(pb.ModelReadyRequest(name=SERVED_MODEL)).ready
            with pytest.raises(grpc.RpcError) as caught:
                stub.ModelInfer(raw_request())
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        server.stop(None)
        core.stop()


def test_a_request_past_the_servers_deadline_is_not_run(monkeypatch):
    """REQUEST_DEADLINE_SECONDS holds on gRPC as on REST: a request that could not start in time is
    UNAVAILABLE (retry) with the REST 503's words, and the model is never called."""
    core = start_core(True)
    calls = []
    monkeypatch.setattr(core.service, "_scores", lambda *args: calls.append(args))
    server, target = serve(core, ServerLimits(max_instances=64, max_image_pixels=1_000_000,
                                              deadline_seconds=1e-9))
    try:
        with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as caught:
            pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(raw_request())
    finally:
        server.stop(None)
        core.stop()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == ("the server is busy: the request waited "
                                      "REQUEST_DEADLINE_SECONDS=1e-09 s without starting; retry later")
    assert calls == []


def test_an_unexpected_failure_is_internal_not_a_traceback():
    broken = v2_servicer.InferenceServicer(service=object(), limits=LIMITS)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(broken, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError) as caught:
            pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(raw_request())
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        assert "internal error" in caught.value.details()
    finally:
        server.stop(None)
