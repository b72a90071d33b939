"""Keeping the manager in line with the disk: a poll thread, the model config file, and SIGHUP.

TF Serving polls the base paths every ``--file_system_poll_wait_seconds`` and re-reads the model config
file every ``--model_config_file_poll_wait_seconds``; SIGHUP (when the watcher starts in a main thread)
wakes it at once and re-reads the file. A config file that no longer parses is refused and the running
config stays, as TF Serving does.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any

from serving_core.lifecycle.manager import ServableManager
from serving_core.lifecycle.model_config import ModelSource, load_model_config_file
from serving_core.lifecycle.policy import ModelConfigError

log = logging.getLogger(__name__)


class Watcher:
    """Calls ``manager.refresh()`` on a timer, on SIGHUP and on request, from one daemon thread."""

    def __init__(
        self,
        manager: ServableManager,
        config_file: Path | None,
        file_system_poll_seconds: float,
        config_file_poll_seconds: float,
        reload_on_sighup: bool,
    ) -> None:
        self.manager = manager
        self.config_file = config_file
        self.file_system_poll_seconds = file_system_poll_seconds
        self.config_file_poll_seconds = config_file_poll_seconds
        self.reload_on_sighup = reload_on_sighup
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous_sighup: Any = None
        self._sighup_installed = False

    def start(self) -> None:
        """Start the poll thread (and the SIGHUP handler when allowed); idempotent."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._poll_loop, name="model-watcher", daemon=True)
        self._thread.start()
        if self.reload_on_sighup:
            self.install_sighup_handler()

    def stop(self, timeout: float | None = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None
        self.uninstall_sighup_handler()

    def request_rescan(self) -> None:
        """Ask the poll thread to re-read the config file and rescan now (what SIGHUP does); no waiting."""
        self._wake.set()

    def poll_once(self, reload_config: bool = False) -> None:
        """One synchronous pass: re-read the config file if asked, then rescan every model."""
        self.manager.refresh(self.read_config() if reload_config else None)

    def read_config(self) -> list[ModelSource] | None:
        """The config file's models, or None (no file, or a bad one: logged, the running config stays)."""
        if self.config_file is None:
            return None
        try:
            return load_model_config_file(self.config_file)
        except ModelConfigError as exc:
            log.error("model config reload refused, keeping the current one: %s", exc)
            return None

    def _poll_loop(self) -> None:
        config_poll = self.config_file_poll_seconds if self.config_file else 0.0
        next_config_read = time.monotonic() + config_poll if config_poll > 0 else math.inf
        while not self._stopping.is_set():
            timeout = self.file_system_poll_seconds if self.file_system_poll_seconds > 0 else math.inf
            timeout = min(timeout, max(0.0, next_config_read - time.monotonic()))
            woken = self._wake.wait(None if math.isinf(timeout) else timeout)
            if self._stopping.is_set():
                return
            self._wake.clear()
            reread = woken or time.monotonic() >= next_config_read
            if time.monotonic() >= next_config_read:
                next_config_read = time.monotonic() + config_poll
            try:
                self.poll_once(reload_config=reread)
            except Exception:  # the poll thread must survive anything a folder or a config can do
                log.exception("model rescan failed")

    def install_sighup_handler(self) -> bool:
        """Make SIGHUP trigger ``request_rescan()``; only possible from the main thread of a process."""
        if self._sighup_installed or not hasattr(signal, "SIGHUP"):
            return self._sighup_installed
        if threading.current_thread() is not threading.main_thread():
            log.debug("not in the main thread: no SIGHUP handler (rescans rely on polling)")
            return False
        previous = signal.getsignal(signal.SIGHUP)

        def on_sighup(signum: int, frame: Any) -> None:
            # Only set an event: a signal handler runs between two bytecodes of the main thread.
            log.info("SIGHUP: rescanning models")
            self.request_rescan()
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGHUP, on_sighup)
        self._previous_sighup = previous
        self._sighup_installed = True
        return True

    def uninstall_sighup_handler(self) -> None:
        if not self._sighup_installed or threading.current_thread() is not threading.main_thread():
            return
        previous = self._previous_sighup if self._previous_sighup is not None else signal.SIG_DFL
        signal.signal(signal.SIGHUP, previous)
        self._sighup_installed = False
