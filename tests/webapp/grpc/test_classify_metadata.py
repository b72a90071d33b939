"""Classify, GetModelMetadata, Regress and MultiInference with the stock stubs."""

from __future__ import annotations

import grpc
import numpy as np
import orjson
import pytest
from google.protobuf import json_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    regression_pb2,
)

from emnist_contract.labels import BYCLASS_LABELS
from tests.support.paths import SERVED_MODEL, served_version_dir

SERVED_VERSION = int(served_version_dir().name)


def classify_request(rows: list[np.ndarray], signature: str = "", context: np.ndarray | None = None):
    message = classification_pb2.ClassificationRequest()
    message.model_spec.name = SERVED_MODEL
    message.model_spec.signature_name = signature
    if context is not None:
        listed = message.input.example_list_with_context
        listed.context.features.feature["images"].float_list.value.extend(context.tolist())
    else:
        listed = message.input.example_list
    for row in rows:
        example = listed.examples.add()
        if row is not None:
            example.features.feature["images"].float_list.value.extend(row.tolist())
    return message


@pytest.fixture(scope="module")
def unit_images(validation_images) -> np.ndarray:
    images, _ = validation_images
    return images[:4].reshape(4, 784).astype(np.float32) / 255


def test_classify_answers_every_class_with_its_label(prediction, onnx_reference, unit_images):
    response = prediction.Classify(classify_request(list(unit_images)), 10.0)
    assert (response.model_spec.name, response.model_spec.version.value) == (SERVED_MODEL, SERVED_VERSION)
    assert response.model_spec.signature_name == "classify"
    rows = response.result.classifications
    assert len(rows) == 4
    assert [c.label for c in rows[0].classes] == list(BYCLASS_LABELS)
    scores = np.array([[c.score for c in row.classes] for row in rows], dtype=np.float32)
    np.testing.assert_allclose(scores, onnx_reference(unit_images), rtol=1e-5, atol=1e-6)


def test_classify_merges_the_context_into_each_example(prediction, onnx_reference, unit_images):
    response = prediction.Classify(classify_request([None, None], context=unit_images[0]), 10.0)
    scores = np.array([[c.score for c in row.classes] for row in response.result.classifications])
    np.testing.assert_allclose(scores, onnx_reference(unit_images[:1].repeat(2, axis=0)), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize(("message", "details"), [
    (classify_request([]), "Input is empty."),
    (classify_request([None]), "example 0: missing feature 'images' (784 floats)"),
    (classify_request([np.zeros(10, np.float32)]),
     "example 0: feature 'images' holds 10 floats, expected 784"),
    (classify_request([np.zeros(784, np.float32)], signature="serving_default"),
     "Expected classification signature method_name to be tensorflow/serving/classify. Was: "
     "tensorflow/serving/predict"),
    (classify_request([np.zeros(784, np.float32)], signature="nope"),
     "No signature was found with the name: nope"),
])
def test_classify_refusals(prediction, message, details):
    with pytest.raises(grpc.RpcError) as caught:
        prediction.Classify(message, 10.0)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == details


def metadata_request(name: str = SERVED_MODEL, fields: tuple[str, ...] = ("signature_def",)):
    message = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=list(fields))
    message.model_spec.name = name
    return message


def test_metadata_is_an_any_of_signature_def_map_as_the_rest_route_prints_it(prediction, app):
    response = prediction.GetModelMetadata(metadata_request(), 10.0)
    assert (response.model_spec.name, response.model_spec.version.value) == (SERVED_MODEL, SERVED_VERSION)
    packed = response.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert packed.Unpack(signature_map)
    default = signature_map.signature_def["serving_default"]
    assert default.method_name == "tensorflow/serving/predict"
    assert [d.size for d in default.inputs["images"].tensor_shape.dim] == [-1, 784]
    rest = orjson.loads(app.test_client().get(f"/v1/models/{SERVED_MODEL}/metadata").data)
    printed = json_format.MessageToDict(signature_map, preserving_proto_field_name=True,
                                        always_print_fields_with_no_presence=True)
    assert printed == rest["metadata"]["signature_def"]


def test_model_info_is_answered_when_asked_as_the_rest_route_answers_it(prediction, app):
    """This project's extension field: the classes the served version has no training images of."""
    import json

    from google.protobuf import struct_pb2

    from tests.support.paths import served_version_dir

    on_disk = json.loads((served_version_dir() / "assets.extra" / "model_info.json").read_text())
    response = prediction.GetModelMetadata(metadata_request(fields=("model_info",)), 10.0)
    assert list(response.metadata) == ["model_info"]  # only what was asked
    info = struct_pb2.Struct()
    assert response.metadata["model_info"].Unpack(info)
    untrained = list(json_format.MessageToDict(info)["classes_without_training_images"])
    assert untrained == on_disk["classes_without_training_images"]
    rest = app.test_client().get(f"/v1/models/{SERVED_MODEL}/metadata?metadata_field=model_info")
    assert rest.get_json()["metadata"]["model_info"] == {"classes_without_training_images": untrained}
    plain = app.test_client().get(f"/v1/models/{SERVED_MODEL}/metadata").get_json()["metadata"]
    assert list(plain) == ["signature_def"]  # TF Serving's answer, unchanged
    refused = app.test_client().get(f"/v1/models/{SERVED_MODEL}/metadata?metadata_field=graph")
    assert refused.status_code == 400
    assert refused.get_json() == {"error": "Metadata field graph is not supported"}


@pytest.mark.parametrize(("message", "code", "details"), [
    (metadata_request(fields=()), grpc.StatusCode.INVALID_ARGUMENT,
     "GetModelMetadataRequest must specify at least one metadata_field"),
    (metadata_request(fields=("signature_def", "graph")), grpc.StatusCode.INVALID_ARGUMENT,
     "Metadata field graph is not supported"),
    (metadata_request(name="nope"), grpc.StatusCode.NOT_FOUND,
     "Servable not found for request: Latest(nope)"),
])
def test_metadata_refusals(prediction, message, code, details):
    with pytest.raises(grpc.RpcError) as caught:
        prediction.GetModelMetadata(message, 10.0)
    assert (caught.value.code(), caught.value.details()) == (code, details)


def test_regress_and_multi_inference_are_unimplemented_with_a_reason(prediction):
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = SERVED_MODEL
    with pytest.raises(grpc.RpcError) as caught:
        prediction.Regress(regress, 10.0)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "has no regression signature; use Predict or Classify" in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        prediction.MultiInference(inference_pb2.MultiInferenceRequest(), 10.0)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "send each task as its own Classify" in caught.value.details()
