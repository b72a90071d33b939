"""Loading one version: open its engine, check it answers the contract, replay its warmup requests.

TF Serving's Loader. A version becomes AVAILABLE only after all of this succeeded, so a version that
loads but fails its check or its warmup never takes a request. A failure carries a TF error code for the
status page (``error_code``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.tensors import NUM_PIXELS
from serving_core.lifecycle.warmup import run_warmup

log = logging.getLogger(__name__)

#: (engine kind, version folder) -> an opened engine.
EngineFactory = Callable[[str, Path], Any]


def error_code(exc: BaseException) -> str:
    """A TF-style error code for a load failure (what the status shows next to the message)."""
    code = getattr(exc, "error_code", None)
    if isinstance(code, str):
        return code
    if isinstance(exc, FileNotFoundError):
        return "NOT_FOUND"
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return "INVALID_ARGUMENT"
    if isinstance(exc, PermissionError):
        return "PERMISSION_DENIED"
    return "UNKNOWN"


def check_engine(engine: Any) -> None:
    """Refuse an engine that does not answer the contract (e.g. a SavedModel with the wrong signature)."""
    scores = np.asarray(engine.predict(np.zeros((1, NUM_PIXELS), np.float32)))
    if scores.shape != (1, NUM_CLASSES):
        raise ValueError(f"scores of shape {scores.shape} for one image, expected (1, {NUM_CLASSES})")
    if not np.all(np.isfinite(scores)):
        raise ValueError("non-finite scores for an all-zero image")


class Loader:
    """Opens and closes versions with one engine factory; ``warmup`` replays the version's records."""

    def __init__(self, engine_factory: EngineFactory, warmup: bool) -> None:
        self.engine_factory = engine_factory
        self.warmup = warmup

    def load(self, kind: str, path: Path) -> tuple[Any, int]:
        """The opened, checked and warmed-up engine and its warmup record count; raises on any failure."""
        engine = self.engine_factory(kind, path)
        try:
            check_engine(engine)
            warmed = run_warmup(path, engine.predict, NUM_CLASSES) if self.warmup else 0
        except BaseException:
            self.unload(engine, path)
            raise
        return engine, warmed

    @staticmethod
    def unload(engine: Any, path: Path) -> None:
        """Close an engine; a failure is logged, never raised (the version is gone either way)."""
        try:
            engine.close()
        except Exception:
            log.exception("closing the engine of %s failed", path)
