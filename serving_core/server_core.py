"""The serving core assembled from its options: manager, loader, watcher, batchers and the inference service.

TF Serving's ServerCore: one object per process that the front ends share. ``start()`` loads what the
config names (synchronously, so a started server serves), then watches for changes; ``reload_config()``
replaces the running model config with one a front end received (TF Serving's ReloadConfig).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving_core.batching import BatcherCache, BatchingOptions
from serving_core.engines import Engine, EngineOptions, load_engine
from serving_core.lifecycle.loader import EngineFactory, Loader
from serving_core.lifecycle.manager import ServableManager
from serving_core.lifecycle.model_config import ModelSource, load_model_config_file, sources_from_config
from serving_core.lifecycle.watcher import Watcher
from serving_core.service import InferenceService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoreOptions:
    """Everything the core needs; the server's settings build it (``webapp.settings``)."""

    #: The single-model form (``--model_name``/``--model_base_path``); ignored when ``config_file`` is set.
    sources: tuple[ModelSource, ...]
    config_file: Path | None
    engine: str
    engine_options: EngineOptions
    file_system_poll_seconds: float
    config_file_poll_seconds: float
    warmup: bool
    allow_version_labels_for_unavailable_models: bool
    reload_on_sighup: bool
    batching: BatchingOptions | None
    #: A version folder is loaded once its files have not changed for this long (``Loader``).
    model_settle_seconds: float = 0.0


class ServerCore:
    """The lifecycle and the service of one process (see the module doc)."""

    def __init__(self, options: CoreOptions, engine_factory: EngineFactory | None = None) -> None:
        self.options = options
        factory = engine_factory or functools.partial(_open_engine, options=options.engine_options)
        self.manager = ServableManager(
            Loader(factory, warmup=options.warmup, settle_seconds=options.model_settle_seconds),
            engine_kind=options.engine,
            allow_version_labels_for_unavailable_models=options.allow_version_labels_for_unavailable_models,
        )
        self.watcher = Watcher(
            self.manager,
            config_file=options.config_file,
            file_system_poll_seconds=options.file_system_poll_seconds,
            config_file_poll_seconds=options.config_file_poll_seconds,
            reload_on_sighup=options.reload_on_sighup,
        )
        batchers = BatcherCache(options.batching) if options.batching is not None else None
        self.service = InferenceService(self.manager, batchers)

    def start(self) -> ServerCore:
        """Load the configured models now (a bad config file raises ModelConfigError), then watch."""
        if self.options.config_file is not None:
            sources = load_model_config_file(self.options.config_file)
        else:
            sources = list(self.options.sources)
        self.manager.refresh(sources)
        self.watcher.start()
        for source in self.manager.model_sources():
            if not self.manager.has_available_version(source.name):
                log.warning("model %s has no AVAILABLE version yet (base path %s)", source.name,
                            source.base_path)
        return self

    def reload_config(self, config: Any) -> list[ModelSource]:
        """Serve the models of ``config`` (a ``ModelServerConfig`` message) instead of the running ones.

        Synchronous, as TF Serving's ReloadConfig: when it returns, versions of models no longer listed are
        unloaded and the new ones loaded. A config that does not hold raises ModelConfigError and changes
        nothing. Returns the models now configured.
        """
        sources = sources_from_config(config)
        log.info("reloading the model config: %s", ", ".join(source.name for source in sources))
        self.manager.refresh(sources)
        return sources

    def stop(self) -> None:
        """Stop watching and unload every version."""
        self.watcher.stop()
        self.manager.stop()

    def __enter__(self) -> ServerCore:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _open_engine(kind: str, version_dir: Path, options: EngineOptions) -> Engine:
    return load_engine(kind, version_dir, options)
