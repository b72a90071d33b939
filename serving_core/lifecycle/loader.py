"""Loading one version: open its engine, check it answers the contract, replay its warmup requests.

TF Serving's Loader. A version becomes AVAILABLE only after all of this succeeded, so a version that
loads but fails its check or its warmup never takes a request, and one whose folder is still being
written is not loaded. A failure carries a TF error code for the status page (``error_code``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.tensors import NUM_PIXELS
from serving_core import metrics
from serving_core.engines import Engine
from serving_core.lifecycle.source import Fingerprint, fingerprint, incomplete, newest_change
from serving_core.lifecycle.warmup import run_warmup

log = logging.getLogger(__name__)

#: (engine kind, version folder) -> an opened engine.
EngineFactory = Callable[[str, Path], Engine]
#: Longest wait for a folder whose files keep changing before its load fails (and waits for a change).
MAX_SETTLE_WAIT_SECONDS = 30.0


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


def relative_to_base(message: str, base_path: Path) -> str:
    """``message`` without the model's base path: a status shows ``3/model.onnx``, no server path."""
    for prefix in sorted({str(base_path), os.path.realpath(base_path)}, key=len, reverse=True):
        message = message.replace(prefix.rstrip(os.sep) + os.sep, "").replace(prefix, ".")
    return message


def check_engine(engine: Engine) -> None:
    """Refuse an engine that does not answer the contract (e.g. a SavedModel with the wrong signature)."""
    scores = np.asarray(engine.predict(np.zeros((1, NUM_PIXELS), np.float32)))
    if scores.shape != (1, NUM_CLASSES):
        raise ValueError(f"scores of shape {scores.shape} for one image, expected (1, {NUM_CLASSES})")
    if not np.all(np.isfinite(scores)):
        raise ValueError("non-finite scores for an all-zero image")


class VersionNotReadyError(RuntimeError):
    """The version folder is still being written (incomplete, or changing): it is tried again once the
    folder changes; ``fingerprint`` is what was seen, so the next change retries it."""

    error_code = "UNAVAILABLE"

    def __init__(self, message: str, fingerprint: Fingerprint) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint


@dataclass(frozen=True)
class LoadedVersion:
    """An opened, checked and warmed-up engine, and the folder as it was read (its fingerprint)."""

    engine: Engine
    warmup_records: int
    fingerprint: Fingerprint


class Loader:
    """Opens and closes versions with one engine factory; ``warmup`` replays the version's records.

    A folder written in place (a plain ``cp -r`` instead of a rename) must not be loaded half-done: the
    loader waits until its files have not changed for ``settle_seconds``, checks that it is whole
    (``source.incomplete``), and checks after loading that nothing changed while it read it.
    """

    def __init__(self, engine_factory: EngineFactory, warmup: bool, settle_seconds: float = 0.0) -> None:
        self.engine_factory = engine_factory
        self.warmup = warmup
        self.settle_seconds = settle_seconds

    def settled_fingerprint(self, path: Path) -> Fingerprint:
        """The folder's fingerprint once it has not changed for ``settle_seconds`` (a bounded wait).

        Files last modified longer ago than that pass at once; otherwise the folder must look the same
        after a whole settle period (so that file times in the future do not hold it back for ever).
        """
        deadline = time.monotonic() + MAX_SETTLE_WAIT_SECONDS
        seen = fingerprint(path)
        while time.time() - newest_change(seen) < self.settle_seconds:
            if time.monotonic() >= deadline:
                raise VersionNotReadyError(
                    f"{path}: its files kept changing for {MAX_SETTLE_WAIT_SECONDS:g} s", seen)
            time.sleep(self.settle_seconds)
            again = fingerprint(path)
            if again == seen:
                break
            seen = again
        return seen

    def load(self, kind: str, path: Path) -> LoadedVersion:
        """The version loaded, checked and warmed up from a whole, settled folder; raises on any failure."""
        before = self.settled_fingerprint(path)
        missing = incomplete(path, kind)
        if missing is not None:
            raise VersionNotReadyError(f"{path}: the version folder is not complete: {missing}", before)
        try:
            engine = self.engine_factory(kind, path)
        except Exception as exc:
            exc.fingerprint = before  # what was tried: a later change of the folder retries it
            raise
        try:
            check_engine(engine)
            warmed = self._warm_up(engine, path) if self.warmup else 0
            if fingerprint(path) != before:
                raise VersionNotReadyError(f"{path}: the version folder changed while it was loading", before)
        except BaseException as exc:
            self.unload(engine, path)
            if isinstance(exc, Exception) and not hasattr(exc, "fingerprint"):
                exc.fingerprint = before
            raise
        return LoadedVersion(engine, warmed, before)

    @staticmethod
    def _warm_up(engine: Engine, path: Path) -> int:
        """``run_warmup``, timed as TF Serving's model_warmup_latency (by path and outcome)."""
        started = time.perf_counter()
        status = "OK"
        try:
            return run_warmup(path, engine.predict, NUM_CLASSES)
        except Exception as exc:
            status = error_code(exc)
            raise
        finally:
            recorder = metrics.active()
            if recorder is not None:
                recorder.warmup_done(str(path), time.perf_counter() - started, status)

    @staticmethod
    def unload(engine: Engine, path: Path) -> None:
        """Close an engine; a failure is logged, never raised (the version is gone either way)."""
        try:
            engine.close()
        except Exception:
            log.exception("closing the engine of %s failed", path)
