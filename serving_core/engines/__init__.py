"""Engines: one model version opened once per process and called from many threads.

``tensorflow`` runs the SavedModel (TF Serving's own runtime); ``onnxruntime`` runs the version's
``model.onnx``, the same scores for a fraction of the memory and start-up time. TensorFlow is imported
only by the TensorFlow engine, and installed only with the ``serve-tf`` extra: ``auto`` picks the
TensorFlow engine where TensorFlow is installed and onnxruntime elsewhere.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from serving_core.engines.base import NO_TENSORFLOW, Engine, EngineError, SignatureError

ENGINES = ("tensorflow", "onnxruntime")
#: The engine choice that resolves to tensorflow where TensorFlow is installed, else to onnxruntime.
AUTO = "auto"

__all__ = ["AUTO", "ENGINES", "Engine", "EngineError", "EngineOptions", "SignatureError", "load_engine",
           "resolve_engine", "tensorflow_installed"]


def tensorflow_installed() -> bool:
    """Whether TensorFlow can be imported: looked up, not imported (that costs seconds and hundreds of MB)."""
    return importlib.util.find_spec("tensorflow") is not None


def resolve_engine(kind: str) -> str:
    """The engine ``kind`` stands for (``auto`` resolved); EngineError for tensorflow without TensorFlow."""
    if kind == AUTO:
        return "tensorflow" if tensorflow_installed() else "onnxruntime"
    if kind not in ENGINES:
        raise ValueError(f"unknown engine {kind!r}: expected {AUTO!r}, 'tensorflow' or 'onnxruntime'")
    if kind == "tensorflow" and not tensorflow_installed():
        raise EngineError(NO_TENSORFLOW)
    return kind


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
