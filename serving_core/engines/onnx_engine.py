"""The version folder's ``model.onnx`` through onnxruntime: TF Serving's contract without TensorFlow.

It answers the same signatures as the SavedModel beside it (read from ``saved_model.pb`` without
importing TensorFlow); of those it runs the ones that take images, computing ``classes`` as the argmax.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract import layout
from emnist_contract.labels import NUM_CLASSES
from emnist_contract.signatures import CLASSES_KEY, DEFAULT_SIGNATURE, INPUT_KEY, PREDICT_METHOD, SCORES_KEY
from emnist_contract.tensors import NUM_PIXELS
from serving_core.engines.base import Engine, EngineError, SignatureError, check_images
from serving_core.engines.signature_defs import read_signature_defs

log = logging.getLogger(__name__)


class OnnxRuntimeEngine(Engine):
    """``model.onnx`` (input ``images`` [N,784] -> output ``scores`` [N,62]) in one onnxruntime session."""

    kind = "onnxruntime"

    def __init__(self, version_dir: Path, intra_op_threads: int = 1) -> None:
        super().__init__(version_dir)
        ort = _import_onnxruntime()

        path = self.version_dir / layout.ONNX_FILE
        if not path.is_file():
            raise EngineError(f"{self.version_dir}: no model.onnx for the onnxruntime engine")
        options = ort.SessionOptions()
        # One intra-op thread per session: with a worker per core, a pool per session only oversubscribes.
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise EngineError(f"{path}: cannot open with onnxruntime: {exc}") from exc
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise EngineError(
                f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}"
            )
        self._input_name = inputs[0].name
        self._output_names = [outputs[0].name]
        if (self.version_dir / layout.SAVED_MODEL_FILE).is_file():
            try:
                self.signature_defs = read_signature_defs(self.version_dir)
            except ValueError as exc:
                raise EngineError(str(exc)) from None
        else:
            self.signature_defs = {
                "signature_def": {DEFAULT_SIGNATURE: onnx_signature_def(self._input_name, SCORES_KEY)}
            }

    def predict(self, images: np.ndarray) -> np.ndarray:
        batch = check_images(images)
        return self._session.run(self._output_names, {self._input_name: batch})[0]

    def run_signature(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        expected = self.signature_inputs(signature_name)
        outputs = self.signature_outputs(signature_name)
        if set(inputs) != set(expected) or len(expected) != 1:
            raise SignatureError(
                f"signature {signature_name} takes inputs {sorted(expected)}, got {sorted(inputs)}"
            )
        (value,) = inputs.values()
        if value.dtype.kind not in "fiu" or not set(outputs) <= {SCORES_KEY, CLASSES_KEY}:
            raise SignatureError(
                f"signature {signature_name} is not available with the onnxruntime engine "
                "(it runs image tensors only; serve with EMNIST_ENGINE=tensorflow)"
            )
        scores = self.predict(value)
        answer = {SCORES_KEY: scores, CLASSES_KEY: scores.argmax(axis=1).astype(np.int64)}
        return {name: answer[name] for name in outputs}


def _import_onnxruntime() -> Any:
    """onnxruntime with its telemetry off: ORT_DISABLE_TELEMETRY must be set before its first import, or
    it keeps a device id and an event cache under ~/.cache and tries to upload them (an operator may
    still set the variable to 0)."""
    if "onnxruntime" not in sys.modules:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    elif os.environ.get("ORT_DISABLE_TELEMETRY") != "1":
        log.warning("onnxruntime was imported before ORT_DISABLE_TELEMETRY=1 was set: its telemetry is on")
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    return onnxruntime


def onnx_signature_def(input_name: str, output_name: str) -> dict[str, Any]:
    """A predict SignatureDef for a bare ONNX model (no SavedModel beside it to read one from)."""

    def tensor_info(name: str, width: int) -> dict[str, Any]:
        return {
            "name": name,
            "dtype": "DT_FLOAT",
            "tensor_shape": {
                "dim": [{"size": "-1", "name": ""}, {"size": str(width), "name": ""}],
                "unknown_rank": False,
            },
        }

    return {
        "inputs": {INPUT_KEY: tensor_info(input_name, NUM_PIXELS)},
        "outputs": {SCORES_KEY: tensor_info(output_name, NUM_CLASSES)},
        "method_name": PREDICT_METHOD,
        "defaults": {},
    }
