"""``tensorflow.serving.ModelService``: GetModelStatus and HandleReloadConfigRequest, as TF Serving answers.

GetModelStatus gives the same entries as the REST status route (the service's ``status``). A reload
request carries a whole ``ModelServerConfig`` that replaces the running one: models it leaves out are
unloaded, new ones loaded, before the answer is sent. ``reload_config`` is the process's way to apply
it (its serving core, and the other worker processes of the same server).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from serving_core.errors import InvalidArgumentError
from serving_core.lifecycle.policy import ModelConfigError
from serving_core.service import InferenceBackend
from tf_serving_protos.tensorflow.core.protobuf import error_codes_pb2
from tf_serving_protos.tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
)
from webapp.grpc.inputs import model_spec
from webapp.grpc.status import rpc

#: Applies a ``ModelServerConfig`` message (ModelConfigError when it is invalid).
ReloadConfig = Callable[[Any], None]

State = get_model_status_pb2.ModelVersionStatus.State


def _error_code(name: str) -> int:
    try:
        return error_codes_pb2.Code.Value(name)
    except ValueError:
        return error_codes_pb2.Code.UNKNOWN


def status_response(entries: list[dict[str, Any]]) -> Any:
    """The service's ``model_version_status`` entries as a ``GetModelStatusResponse``."""
    response = get_model_status_pb2.GetModelStatusResponse()
    for entry in entries:
        status = response.model_version_status.add(
            version=int(entry["version"]), state=State.Value(entry["state"]))
        status.status.error_code = _error_code(entry["status"]["error_code"])
        status.status.error_message = entry["status"]["error_message"]
    return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """TF Serving's ModelService over ``service`` and ``reload_config`` (see the module doc)."""

    def __init__(self, service: InferenceBackend, reload_config: ReloadConfig) -> None:
        self.service = service
        self.reload_config = reload_config

    @rpc
    def GetModelStatus(self, request: Any, context: Any) -> Any:  # noqa: N802 - the generated names
        return status_response(self.service.status(model_spec(request)))

    @rpc
    def HandleReloadConfigRequest(self, request: Any, context: Any) -> Any:  # noqa: N802
        if request.config.WhichOneof("config") != "model_config_list":
            raise InvalidArgumentError(
                "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is "
                "currently supported")
        try:
            self.reload_config(request.config)
        except ModelConfigError as exc:
            raise InvalidArgumentError(str(exc)) from None
        response = model_management_pb2.ReloadConfigResponse()
        response.status.error_code = error_codes_pb2.Code.OK
        return response
