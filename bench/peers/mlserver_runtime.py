"""MLServer's custom runtime for the ONNX model: MLServer 1.7 has no onnxruntime runtime, and its
documentation has custom runtimes subclass ``MLModel`` with ``load`` and ``predict``.

Named in the model's ``model-settings.json`` as ``mlserver_runtime.OnnxRuntimeModel`` (``PYTHONPATH`` holds
this folder); runs in MLServer's virtual environment, in each of its parallel inference workers.
"""

from __future__ import annotations

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from onnx_model import OnnxModel


class OnnxRuntimeModel(MLModel):
    """One V2 input ([N,784] FP32 pixels/255) -> output ``scores`` [N,62] FP32."""

    async def load(self) -> bool:
        self._model = OnnxModel()
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        images = NumpyCodec.decode_input(payload.inputs[0])
        scores = self._model.predict(images)
        return InferenceResponse(model_name=self.name, model_version=self.version,
                                 outputs=[NumpyCodec.encode_output("scores", scores)])
