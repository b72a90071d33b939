"""Engines: one model version opened once per process and called from many threads.

``tensorflow`` runs the SavedModel (TF Serving's own runtime); ``onnxruntime`` runs the version's
``model.onnx``, the same scores for a fraction of the memory and start-up time. TensorFlow is imported
only by the TensorFlow engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serving_core.engines.base import Engine, EngineError, SignatureError

ENGINES = ("tensorflow", "onnxruntime")

__all__ = ["ENGINES", "Engine", "EngineError", "EngineOptions", "SignatureError", "load_engine"]


@dataclass(frozen=True)
class EngineOptions:
    """Threads per engine (TensorFlow's convention: 0 = its default, negative = the caller's thread)."""

    onnx_intra_op_threads: int
    tf_intra_op_threads: int
    tf_inter_op_threads: int


def load_engine(kind: str, version_dir: Path, options: EngineOptions) -> Engine:
    """Open one model version with the named engine ("tensorflow" or "onnxruntime")."""
    version_dir = Path(version_dir)
    if not version_dir.is_dir():
        raise EngineError(f"{version_dir}: no such model version folder")
    if kind == "tensorflow":
        from serving_core.engines.tf_engine import TensorFlowEngine

        return TensorFlowEngine(version_dir, options.tf_intra_op_threads, options.tf_inter_op_threads)
    if kind == "onnxruntime":
        from serving_core.engines.onnx_engine import OnnxRuntimeEngine

        return OnnxRuntimeEngine(version_dir, max(options.onnx_intra_op_threads, 1))
    raise ValueError(f"unknown engine {kind!r}: expected 'tensorflow' or 'onnxruntime'")
