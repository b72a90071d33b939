"""``tensorflow.serving.PredictionService`` over the inference service: Predict, Classify, GetModelMetadata.

Each RPC translates its request into one service call and the answer back, with the model spec of the
version that answered; refusals become gRPC statuses with TF Serving's codes (``webapp.grpc.status``).
Regress and MultiInference are answered UNIMPLEMENTED: the model classifies images and has no
regression signature, and a MultiInference request is a set of Classify/Regress tasks on one input.
"""

from __future__ import annotations

import logging
from typing import Any

from google.protobuf import json_format, struct_pb2

from emnist_contract.layout import MODEL_INFO_FIELD, UNTRAINED_CLASSES_KEY
from emnist_contract.signatures import CLASSIFY_SIGNATURE
from serving_core.errors import Code, InvalidArgumentError, ServingError
from serving_core.payloads.limits import ServerLimits
from serving_core.service import InferenceBackend, ServedVersion
from tf_serving_protos.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from webapp.grpc.calls import inference_request
from webapp.grpc.inputs import ExampleInputs, PredictInputs, model_spec
from webapp.grpc.status import rpc
from webapp.grpc.tensors import array_to_tensor

log = logging.getLogger(__name__)

PROTOCOL = "tfserving-grpc"
SIGNATURE_DEF_FIELD = "signature_def"


def set_model_spec(target: Any, served: ServedVersion, signature_name: str | None = None) -> None:
    """The answer's ``model_spec``: the version that answered (and the signature that ran)."""
    target.name = served.name
    target.version.value = served.version
    if signature_name is not None:
        target.signature_name = signature_name


def filter_outputs(outputs: dict[str, Any], output_filter: Any) -> dict[str, Any]:
    """The outputs a request's ``output_filter`` names (all when empty), with TF Serving's refusals."""
    if not output_filter:
        return outputs
    chosen: dict[str, Any] = {}
    for alias in output_filter:
        if alias not in outputs:
            raise InvalidArgumentError(
                f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                f"{{{','.join(sorted(outputs))}}}."
            )
        if alias in chosen:
            raise InvalidArgumentError(f"duplicate output tensor alias: {alias}")
        chosen[alias] = outputs[alias]
    return chosen


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """TF Serving's PredictionService answered by ``service`` (see the module doc)."""

    def __init__(self, service: InferenceBackend, limits: ServerLimits) -> None:
        self.service = service
        self.limits = limits

    @rpc
    def Predict(self, request: Any, context: Any) -> Any:  # noqa: N802 - the generated servicer's names
        call = inference_request(context, self.limits, model_spec(request), PredictInputs(request), PROTOCOL,
                                 "Predict")
        prediction = self.service.predict(call)
        response = predict_pb2.PredictResponse()
        set_model_spec(response.model_spec, prediction.model, prediction.signature_name)
        for name, value in filter_outputs(prediction.outputs, request.output_filter).items():
            array_to_tensor(value, response.outputs[name])
        return response

    @rpc
    def Classify(self, request: Any, context: Any) -> Any:  # noqa: N802
        spec = model_spec(request)
        call = inference_request(context, self.limits, spec, ExampleInputs(request.input), PROTOCOL,
                                 "Classify")
        result = self.service.classify(call)
        response = classification_pb2.ClassificationResponse()
        set_model_spec(response.model_spec, result.model, spec.signature_name or CLASSIFY_SIGNATURE)
        classes = classification_pb2.Class
        for row in result.rows():
            response.result.classifications.add().classes.extend(
                classes(label=label, score=score) for label, score in row)
        return response

    @rpc
    def GetModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        spec = model_spec(request)
        if not request.metadata_field:
            raise InvalidArgumentError("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field not in (SIGNATURE_DEF_FIELD, MODEL_INFO_FIELD):
                raise InvalidArgumentError(f"Metadata field {field} is not supported")
        result = self.service.metadata(spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        set_model_spec(response.model_spec, result.model)
        if SIGNATURE_DEF_FIELD in request.metadata_field:
            signature_map = json_format.ParseDict(
                result.signature_defs, get_model_metadata_pb2.SignatureDefMap(), ignore_unknown_fields=True)
            response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
        if MODEL_INFO_FIELD in request.metadata_field:  # this project's extension: a Struct
            info = struct_pb2.Struct()
            info.update({UNTRAINED_CLASSES_KEY: list(result.untrained_classes)})
            response.metadata[MODEL_INFO_FIELD].Pack(info)
        return response

    @rpc
    def Regress(self, request: Any, context: Any) -> Any:  # noqa: N802
        name = request.model_spec.name
        raise ServingError(
            f"Regress is not implemented by this server: model {name} classifies images and has no "
            "regression signature; use Predict or Classify", Code.UNIMPLEMENTED)

    @rpc
    def MultiInference(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise ServingError(
            "MultiInference is not implemented by this server: send each task as its own Classify (or "
            "Predict) request", Code.UNIMPLEMENTED)
