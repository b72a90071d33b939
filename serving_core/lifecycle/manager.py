"""The manager: which versions of which models are loaded, their states, and pinned versions for requests.

TF Serving's AspiredVersionsManager for one process. For each model it lists the version folders
(``source``), lets the version policy choose the aspired ones (``policy``), loads what is missing
(``loader``) newest first, and only once an aspired version is AVAILABLE unloads the versions the policy no
longer wants (availability first). A version that fails to load stays in the status with its error (state
END), is left out of the policy, and is retried only when its folder changes; what served before keeps
serving. ``acquire()`` pins a version for one request: a superseded or deleted version goes to UNLOADING
and its engine closes when its last in-flight request releases it.

Under gunicorn every worker process owns a manager and polls the same folders, so they converge on the
same versions within one poll interval plus one load time.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving_core.engines import Engine
from serving_core.errors import InvalidArgumentError, ModelNotFoundError, ServableUnavailableError
from serving_core.lifecycle import events
from serving_core.lifecycle.loader import Loader, error_code, relative_to_base
from serving_core.lifecycle.model_config import ModelSource
from serving_core.lifecycle.source import Fingerprint, fingerprint, list_versions

log = logging.getLogger(__name__)


class ServableState(enum.StrEnum):
    """``tensorflow.serving.ModelVersionStatus.State`` names, as the status routes print them."""

    START = "START"
    LOADING = "LOADING"
    AVAILABLE = "AVAILABLE"
    UNLOADING = "UNLOADING"
    END = "END"


class VersionLabelError(InvalidArgumentError):
    """An unknown version label: TF Serving answers INVALID_ARGUMENT, not NOT_FOUND."""


@dataclass(frozen=True)
class Servable:
    """What ``acquire()`` hands out: the engine of one loaded version, pinned while the request runs."""

    name: str
    version: int
    engine: Engine
    path: Path


@dataclass(eq=False)
class _Version:
    """One version's state as the manager sees it."""

    version: int
    path: Path
    state: ServableState = ServableState.START
    error_code: str = "OK"
    error_message: str = ""
    engine: Engine | None = None
    in_flight: int = 0
    failed_fingerprint: Fingerprint | None = None  # the folder as it was when loading failed
    loaded_fingerprint: Fingerprint | None = None  # the folder as it was read by the engine serving it
    failed_reload: Fingerprint | None = None  # a change of the folder that did not load (the old serves)

    def status(self) -> dict[str, Any]:
        return {
            "version": str(self.version),
            "state": self.state.value,
            "status": {"error_code": self.error_code, "error_message": self.error_message},
        }


@dataclass(eq=False)
class _Model:
    source: ModelSource
    versions: dict[int, _Version] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)  # labels in effect (their target was AVAILABLE)
    warned: set = field(default_factory=set)  # log-once keys
    scanned: bool = False  # its first scan is over (until then it does not count against ready())


def _label_version(model: _Model | None, label: str) -> int:
    """The version a label points at, or TF Serving's error for an unknown label."""
    if model is None or label not in model.labels:
        raise VersionLabelError(f"Unrecognized servable version label: {label}")
    return model.labels[label]


class ServableManager:
    """Loads, serves and retires the versions of the configured models (see the module doc)."""

    def __init__(
        self, loader: Loader, engine_kind: str, allow_version_labels_for_unavailable_models: bool
    ) -> None:
        self.loader = loader
        self.engine_kind = engine_kind
        self.allow_version_labels_for_unavailable_models = allow_version_labels_for_unavailable_models
        self._lock = threading.Lock()  # guards _models and every _Version's fields; held briefly
        self._refresh_lock = threading.Lock()  # one refresh at a time (watcher, config reload, tests)
        self._models: dict[str, _Model] = {}
        self._stopping = threading.Event()
        self.started = False
        self.refreshes = 0  # completed refreshes, for tests and logs

    # --- bringing the loaded versions in line with the config and the disk ----------------------

    def refresh(self, sources: list[ModelSource] | None = None) -> None:
        """Apply ``sources`` (a new model config) if given, then rescan every model's folder; synchronous."""
        with self._refresh_lock:
            if self._stopping.is_set():
                return
            if sources is not None:
                self._apply_sources(sources)
            with self._lock:
                models = list(self._models.values())
            for model in models:
                if self._stopping.is_set():
                    return
                self._reconcile(model)
            self.started = True
            self.refreshes += 1

    def stop(self) -> None:
        """Unload every version (each engine closes after its last in-flight request)."""
        self._stopping.set()
        with self._refresh_lock:
            with self._lock:
                models = list(self._models.values())
                self._models.clear()
            for model in models:
                self._unload_all(model, "the server is stopping")
        self.started = False
        self._publish_states()

    def _apply_sources(self, sources: list[ModelSource]) -> None:
        wanted = {source.name: source for source in sources}
        retired: list[_Model] = []
        moved: list[_Model] = []
        with self._lock:
            for name, model in list(self._models.items()):
                source = wanted.get(name)
                if source is None:
                    retired.append(self._models.pop(name))
                elif (source.base_path, source.platform) != (model.source.base_path, model.source.platform):
                    moved.append(_Model(source))
                elif source != model.source:
                    log.info("model %s: version policy %s, labels %s", name, source.policy.describe(),
                             dict(source.labels))
                    model.source = source
            for name, source in wanted.items():
                if name not in self._models:
                    log.info("serving model %s from %s (version policy %s, labels %s)", name,
                             source.base_path, source.policy.describe(), dict(source.labels))
                    self._models[name] = _Model(source)
        for model in retired:
            log.info("model %s left the config: unloading its versions", model.source.name)
            self._unload_all(model, "the model left the config")
        for model in moved:
            # A model whose base path (or platform) changed: load the new versions before switching, so the
            # old ones keep serving meanwhile.
            name = model.source.name
            log.info("model %s: now served from %s (%s)", name, model.source.base_path, model.source.platform)
            self._reconcile(model)
            with self._lock:
                previous, self._models[name] = self._models[name], model
            self._unload_all(previous, f"the model is now served from {model.source.base_path}")

    def _unload_all(self, model: _Model, reason: str) -> None:
        for entry in list(model.versions.values()):
            self._unload(model.source.name, entry, reason)

    def _versions_on_disk(self, model: _Model) -> dict[int, Path] | None:
        """Version folders, or None when the base path cannot be listed (logged once per error)."""
        try:
            on_disk = list_versions(model.source.base_path)
        except OSError as exc:
            key = ("base", str(exc))
            if key not in model.warned:
                model.warned.add(key)
                log.warning("No versions of servable %s found under base path %s: %s", model.source.name,
                            model.source.base_path, exc)
            return None
        model.warned = {key for key in model.warned if key[0] != "base"}
        return on_disk

    def _reconcile(self, model: _Model) -> None:
        name = model.source.name
        on_disk = self._versions_on_disk(model)
        if on_disk is None:
            # A base path that cannot be listed (not created yet, unmounted, no permission) changes nothing:
            # what is loaded keeps serving. An existing but empty base path does unload everything.
            self._update_labels(model)
            model.scanned = True
            return
        tried: set[int] = set()  # each version is loaded at most once per scan
        while True:
            with self._lock:
                failed = {number: entry.failed_fingerprint for number, entry in model.versions.items()
                          if number in on_disk and entry.failed_fingerprint is not None}
            # A failed version is neither retried nor counted by the policy until its folder changes.
            unchanged = {number for number, previous in failed.items()
                         if previous == fingerprint(on_disk[number])}
            with self._lock:
                aspired = model.source.policy.select(set(on_disk) - unchanged)
                to_load = sorted(
                    (v for v in aspired - tried
                     if v not in model.versions or model.versions[v].state in (ServableState.END,
                                                                                ServableState.START)),
                    reverse=True,
                )
                tried.update(to_load)
                for number in to_load:
                    model.versions[number] = _Version(number, on_disk[number])
            if not to_load:
                break
            for number in to_load:  # newest first: it is the one "latest" requests will want
                self._load(model, model.versions[number])
        for number in sorted(aspired & set(on_disk), reverse=True):
            self._reload_if_changed(model, number, on_disk[number])
        # Only now that the wanted versions are AVAILABLE (or failed) retire the others, and only if one of
        # them is AVAILABLE or none is wanted at all (TF Serving's availability-preserving policy).
        with self._lock:
            serving = any(model.versions[v].state is ServableState.AVAILABLE for v in aspired)
            retire = [] if aspired and not serving else [
                entry for number, entry in model.versions.items()
                if number not in aspired and entry.state is ServableState.AVAILABLE
            ]
        for entry in retire:
            reason = "its folder was removed" if entry.version not in on_disk else (
                f"version policy {model.source.policy.describe()}")
            self._unload(name, entry, reason)
        self._update_labels(model)
        model.scanned = True

    def _reload_if_changed(self, model: _Model, number: int, path: Path) -> None:
        """An AVAILABLE version whose folder changed since it was read is loaded again and swapped in
        (the one loaded keeps serving meanwhile, and if the new files do not load), so every worker ends
        with the folder's final content even when it first read a copy in progress."""
        with self._lock:
            entry = model.versions.get(number)
        if entry is None or entry.state is not ServableState.AVAILABLE or entry.loaded_fingerprint is None:
            return
        now = fingerprint(path)
        if now in (entry.loaded_fingerprint, entry.failed_reload):
            return
        log.info("servable version {name: %s version: %d} changed on disk since it was loaded: loading "
                 "it again", model.source.name, number)
        fresh = _Version(number, path)
        if not self._load(model, fresh):
            entry.failed_reload = fresh.failed_fingerprint
            return
        with self._lock:
            model.versions[number] = fresh
        self._unload(model.source.name, entry, "its folder changed: the new files serve")

    def _load(self, model: _Model, entry: _Version) -> bool:
        name = model.source.name
        kind = "onnxruntime" if model.source.platform == "onnxruntime" else self.engine_kind
        with self._lock:
            entry.state = ServableState.LOADING
        self._publish_states()
        started = events.loading(name, entry, kind)
        try:
            loaded = self.loader.load(kind, entry.path)
        except Exception as exc:
            with self._lock:
                entry.state = ServableState.END
                entry.error_code = error_code(exc)
                entry.error_message = relative_to_base(str(exc) or type(exc).__name__, model.source.base_path)
                entry.failed_fingerprint = getattr(exc, "fingerprint", None) or fingerprint(entry.path)
            events.load_failed(name, entry, started, entry.error_code, entry.error_message)
            self._publish_states()
            return False
        with self._lock:  # one assignment makes it visible to acquire(): AVAILABLE atomically
            entry.engine = loaded.engine
            entry.loaded_fingerprint = loaded.fingerprint
            entry.state = ServableState.AVAILABLE
        events.loaded(name, entry, started, loaded.warmup_records)
        self._publish_states()
        return True

    def _publish_states(self) -> None:
        """This process's versions by state, as the metrics' model state gauge."""
        with self._lock:
            events.publish_states((name, entry) for name, model in self._models.items()
                                  for entry in model.versions.values())

    def _unload(self, name: str, entry: _Version, reason: str) -> None:
        """Start unloading; the engine closes now if idle, else when its last request releases it."""
        with self._lock:
            if entry.state in (ServableState.START, ServableState.LOADING):
                entry.state = ServableState.END
                return
            if entry.state != ServableState.AVAILABLE:
                return
            entry.state = ServableState.UNLOADING
            engine = self._take_engine_if_idle(entry)
        events.unloading(name, entry, reason)
        self._publish_states()
        if engine is not None:
            self._finish_unload(name, entry, engine)

    @staticmethod
    def _take_engine_if_idle(entry: _Version) -> Engine | None:
        if entry.state is ServableState.UNLOADING and entry.in_flight == 0 and entry.engine is not None:
            engine, entry.engine = entry.engine, None
            return engine
        return None

    def _finish_unload(self, name: str, entry: _Version, engine: Engine) -> None:
        started = time.perf_counter()
        self.loader.unload(engine, entry.path)
        with self._lock:
            entry.state = ServableState.END
        self._publish_states()
        events.unloaded(name, entry, started)

    def _update_labels(self, model: _Model) -> None:
        with self._lock:
            effective: dict[str, int] = {}
            for label, version in model.source.labels.items():
                entry = model.versions.get(version)
                if self.allow_version_labels_for_unavailable_models or (
                    entry is not None and entry.state is ServableState.AVAILABLE
                ):
                    effective[label] = version
                    continue
                key = ("label", label, version)
                if key not in model.warned:
                    model.warned.add(key)
                    log.warning(
                        "Request to assign label to version %d of model %s, which is not currently available "
                        "for inference; label %r stays %s until it is", version, model.source.name, label,
                        model.labels.get(label, "unassigned"))
                if label in model.labels:
                    effective[label] = model.labels[label]
            if effective != model.labels:
                log.info("model %s: version labels %s", model.source.name, effective)
            model.labels = effective

    # --- serving ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def acquire(self, name: str, version: int | None = None, label: str | None = None) -> Iterator[Servable]:
        """Pin a loaded version for one request: the latest AVAILABLE, a specific one, or a label's."""
        entry = self._checkout(name, version, label)
        try:
            yield Servable(name, entry.version, entry.engine, entry.path)
        finally:
            self._release(name, entry)

    def _checkout(self, name: str, version: int | None, label: str | None) -> _Version:
        if version is not None and label is not None:
            raise InvalidArgumentError("ask for a version or a label, not both")
        with self._lock:
            model = self._models.get(name)
            if label is not None:
                version = _label_version(model, label)
            if version is None:
                request = f"Latest({name})"
                available = [] if model is None else [
                    e for e in model.versions.values() if e.state is ServableState.AVAILABLE]
                entry = max(available, key=lambda e: e.version) if available else None
            else:
                request = f"Specific({name}, {version})"
                entry = None if model is None else model.versions.get(int(version))
                if entry is not None and entry.state is not ServableState.AVAILABLE:
                    entry = None
            if entry is None:
                message = f"Servable not found for request: {request}"
                if model is not None and not any(
                        e.state is ServableState.AVAILABLE for e in model.versions.values()):
                    raise ServableUnavailableError(message)  # configured, nothing loaded yet
                raise ModelNotFoundError(message)
            entry.in_flight += 1
            return entry

    def _release(self, name: str, entry: _Version) -> None:
        with self._lock:
            entry.in_flight -= 1
            engine = self._take_engine_if_idle(entry)
        if engine is not None:  # this was the last request on a retired version
            self._finish_unload(name, entry, engine)

    # --- introspection ---------------------------------------------------------------------------

    def status(self, name: str, version: int | None = None, label: str | None = None) -> list[dict[str, Any]]:
        """TF Serving's ``model_version_status`` entries (newest version first), or ModelNotFoundError."""
        with self._lock:
            model = self._models.get(name)
            if label is not None:
                version = _label_version(model, label)
            if version is not None:
                entry = None if model is None else model.versions.get(int(version))
                if entry is None:
                    raise ModelNotFoundError(f"Could not find version {version} of model {name}")
                return [entry.status()]
            if model is None or not model.versions:
                raise ModelNotFoundError(f"Could not find any versions of model {name}")
            return [model.versions[v].status() for v in sorted(model.versions, reverse=True)]

    def has_available_version(self, name: str) -> bool:
        with self._lock:
            model = self._models.get(name)
            return model is not None and any(
                e.state is ServableState.AVAILABLE for e in model.versions.values())

    def model_names(self) -> list[str]:
        """Names of the configured models, in config order."""
        with self._lock:
            return list(self._models)

    def model_sources(self) -> list[ModelSource]:
        """Where each model comes from, with its policy and labels, as in effect now."""
        with self._lock:
            return [model.source for model in self._models.values()]

    def labels(self, name: str) -> dict[str, int]:
        """The version labels in effect for ``name`` (label -> version)."""
        with self._lock:
            model = self._models.get(name)
            if model is None:
                raise ModelNotFoundError(f"Could not find any versions of model {name}")
            return dict(model.labels)

    def ready(self) -> bool:
        """True once refreshed and every configured model has at least one AVAILABLE version.

        A model added by a config reload counts only once its first scan is over, so that loading it does
        not make a serving worker unready; one that then has nothing AVAILABLE does (status says why).
        """
        if not self.started:
            return False
        with self._lock:
            return bool(self._models) and all(
                any(e.state is ServableState.AVAILABLE for e in model.versions.values())
                for model in self._models.values()
                if model.scanned
            )
