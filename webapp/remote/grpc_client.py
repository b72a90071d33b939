"""One TF Serving-compatible model server over gRPC: a long-lived channel and the stock stubs.

Every call takes the time left before the caller's deadline and answers plain values (the version that
answered, numpy outputs, status entries as the REST route prints them); failures are classified once, by
``webapp.remote.errors``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import numpy as np
from google.protobuf import json_format, struct_pb2

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.layout import MODEL_INFO_FIELD, UNTRAINED_CLASSES_KEY
from emnist_contract.signatures import EXAMPLE_FEATURE
from serving_core.engines.signature_defs import sorted_signature_maps
from serving_core.observation import current_request_id
from serving_core.payloads.limits import ServerLimits
from serving_core.payloads.tensor_protos import tensor_to_array
from serving_core.service import ModelSpec
from tf_serving_protos.tensorflow.core.protobuf import error_codes_pb2
from tf_serving_protos.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from webapp.grpc.calls import REQUEST_ID_KEY
from webapp.grpc.status import core_code
from webapp.grpc.tensors import array_to_tensor
from webapp.remote.addresses import ModelServerAddress
from webapp.remote.errors import answered_error, bad_gateway
from webapp.remote.results import Classified, Predicted, untrained_classes_of

T = TypeVar("T")
State = get_model_status_pb2.ModelVersionStatus.State
#: gRPC's reconnect backoff grows to two minutes while a server is down: a worker whose channel had
#: backed off that far kept failing for that long after the model server was back, while its siblings
#: answered. Capped at a second, every worker reaches a returning model server within about a second.
#: round_robin: a name that resolves to several model servers (a Kubernetes headless Service, a compose
#: service with replicas) gets its calls spread over all of them, not pinned to the first that answered;
#: the name is looked up again when a connection fails, at most every 2 s (gRPC's default: 30 s), so a
#: replaced replica at a new address is found while the others answer.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1),
                   ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000),
                   ("grpc.lb_policy_name", "round_robin"), ("grpc.dns_min_time_between_resolutions_ms", 2000)]


def fill_model_spec(target: Any, spec: ModelSpec, signature_name: str = "") -> None:
    target.name = spec.name
    if spec.version is not None:
        target.version.value = spec.version
    elif spec.label is not None:
        target.version_label = spec.label
    if signature_name:
        target.signature_name = signature_name


def examples_input(target: Any, images: np.ndarray) -> None:
    """Images [N,784] as the Classification API's ``tf.Example`` list (feature ``images``)."""
    examples = target.example_list.examples
    for row in images:
        examples.add().features.feature[EXAMPLE_FEATURE].float_list.value.extend(row.tolist())


class GrpcModelServer:
    """Calls to one model server (see the module doc)."""

    def __init__(self, address: ModelServerAddress) -> None:
        self.address = address
        self.url = address.url
        self.channel = grpc.insecure_channel(address.target, options=CHANNEL_OPTIONS)
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def _call(self, method: Callable[..., T], request: Any, timeout: float) -> T:
        request_id = current_request_id()  # the model server logs the front end's request under the same id
        metadata = ((REQUEST_ID_KEY, request_id),) if request_id is not None else None
        try:
            return method(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
            raise answered_error(self.url, core_code(code), error.details() or "") from None

    def predict(self, spec: ModelSpec, signature: str, input_name: str, values: np.ndarray,
                timeout: float, output_types: dict[str, str] | None = None) -> Predicted:
        request = predict_pb2.PredictRequest()
        fill_model_spec(request.model_spec, spec, signature)
        request.inputs[input_name].CopyFrom(array_to_tensor(values))
        response = self._call(self.prediction.Predict, request, timeout)
        # An answer holds at most a value (or a string) per class of each image asked about.
        bound = ServerLimits(max_instances=max(len(values), 1) * NUM_CLASSES, max_image_pixels=0).budget()
        try:
            outputs = {name: tensor_to_array(response.outputs[name], bound, f"output {name}")
                       for name in sorted(response.outputs)}  # TF Serving's order: by name
        except Exception as exc:
            raise bad_gateway(self.url, f"answered an unreadable tensor: {exc}") from None
        return Predicted(response.model_spec.version.value, response.model_spec.signature_name or signature,
                         outputs)

    def classify(self, spec: ModelSpec, signature: str, images: np.ndarray, timeout: float) -> Classified:
        request = classification_pb2.ClassificationRequest()
        fill_model_spec(request.model_spec, spec, signature)
        examples_input(request.input, images)
        response = self._call(self.prediction.Classify, request, timeout)
        rows = response.result.classifications
        if len(rows) != len(images):
            raise bad_gateway(self.url, f"answered {len(rows)} classifications for {len(images)} examples")
        labels = tuple(item.label for item in rows[0].classes)
        scores = np.array([[item.score for item in row.classes] for row in rows], dtype=np.float32)
        return Classified(response.model_spec.version.value, labels if any(labels) else None, scores)

    def metadata(self, spec: ModelSpec, timeout: float) -> tuple[int, dict[str, Any]]:
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        fill_model_spec(request.model_spec, spec)
        response = self._call(self.prediction.GetModelMetadata, request, timeout)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        if not response.metadata["signature_def"].Unpack(signature_map):
            raise bad_gateway(self.url, "answered metadata without a SignatureDefMap")
        printed = json_format.MessageToDict(
            signature_map, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        return response.model_spec.version.value, sorted_signature_maps(printed)

    def untrained_classes(self, spec: ModelSpec, timeout: float) -> tuple[str, ...]:
        """The classes the version has no training images of (this project's ``model_info`` field)."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=[MODEL_INFO_FIELD])
        fill_model_spec(request.model_spec, spec)
        response = self._call(self.prediction.GetModelMetadata, request, timeout)
        info = struct_pb2.Struct()
        if not response.metadata[MODEL_INFO_FIELD].Unpack(info):
            raise bad_gateway(self.url, "answered model_info without a Struct")
        return untrained_classes_of(self.url, json_format.MessageToDict(info).get(UNTRAINED_CLASSES_KEY, []))

    def status(self, spec: ModelSpec, timeout: float) -> list[dict[str, Any]]:
        request = get_model_status_pb2.GetModelStatusRequest()
        fill_model_spec(request.model_spec, spec)
        response = self._call(self.models.GetModelStatus, request, timeout)
        return [
            {
                "version": str(entry.version),
                "state": State.Name(entry.state),
                "status": {"error_code": error_codes_pb2.Code.Name(entry.status.error_code),
                           "error_message": entry.status.error_message},
            }
            for entry in response.model_version_status
        ]
