"""What the manager tells about its versions' lives: one log line per event, with the event's fields as
``extra`` (the JSON log format prints them), and the lifecycle metrics (load and unload counts and times,
versions by state) when this process records metrics.

The lines keep the words of TF Serving's own log ("loading servable", "successfully loaded servable
version", "done unloading servable version").
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from serving_core import metrics

#: The manager's logger: these lines read as the manager's.
log = logging.getLogger("serving_core.lifecycle.manager")


class VersionView(Protocol):
    """What an event needs of a version."""

    version: int
    path: Path
    state: enum.Enum


def _fields(event: str, name: str, entry: VersionView, **fields: Any) -> dict[str, Any]:
    """A lifecycle line's ``extra``: what happened to which version, in what state now."""
    return {"event": event, "model_name": name, "model_version": entry.version, "state": entry.state.value,
            **fields}


def loading(name: str, entry: VersionView, engine: str) -> float:
    """A load starts; returns its start time for ``loaded`` / ``load_failed``."""
    log.info("loading servable: {name: %s version: %d} from %s (engine %s)", name, entry.version,
             entry.path, engine, extra=_fields("loading", name, entry, path=str(entry.path), engine=engine))
    return time.perf_counter()


def _load_done(name: str, started: float, success: bool) -> float:
    seconds = time.perf_counter() - started
    recorder = metrics.active()
    if recorder is not None:
        recorder.load_done(name, seconds, success)
    return seconds


def load_failed(name: str, entry: VersionView, started: float, code: str, message: str) -> None:
    _load_done(name, started, success=False)
    log.error("loading servable {name: %s version: %d} failed: %s %s", name, entry.version, code, message,
              extra=_fields("failed", name, entry, error_code=code, error_message=message))


def loaded(name: str, entry: VersionView, started: float, warmed: int) -> None:
    seconds = _load_done(name, started, success=True)
    log.info("successfully loaded servable version {name: %s version: %d} in %.2f s (%d warmup records)",
             name, entry.version, seconds, warmed,
             extra=_fields("available", name, entry, seconds=round(seconds, 3), warmup_records=warmed))


def unloading(name: str, entry: VersionView, reason: str) -> None:
    log.info("unloading servable version {name: %s version: %d}: %s", name, entry.version, reason,
             extra=_fields("unloading", name, entry, reason=reason))


def unloaded(name: str, entry: VersionView, started: float) -> None:
    seconds = time.perf_counter() - started
    recorder = metrics.active()
    if recorder is not None:
        recorder.unload_done(name, seconds)
    log.info("done unloading servable version {name: %s version: %d}", name, entry.version,
             extra=_fields("unloaded", name, entry, seconds=round(seconds, 3)))


def publish_states(versions: Iterable[tuple[str, VersionView]]) -> None:
    """This process's versions by state, as the metrics' model state gauge (nothing without metrics)."""
    recorder = metrics.active()
    if recorder is None:
        return
    counts: dict[tuple[str, str, str], int] = {}
    for name, entry in versions:
        key = (name, str(entry.version), entry.state.value)
        counts[key] = counts.get(key, 0) + 1
    recorder.model_states(counts)
