"""TensorFlow without its start-up noise on the command line (``--verbose`` keeps it).

Importing TensorFlow 2.21 writes about a dozen lines to stderr on a CPU machine: oneDNN and CPU
instruction notes, "could not find cuda drivers", a cuInit error, twice over. ``TF_CPP_MIN_LOG_LEVEL``
(set before the import) silences what TensorFlow logs once its logging is set up, but the lines written
while its libraries load ("All log messages before absl::InitializeLog() is called are written to
STDERR") bypass it. So the first ``import tensorflow`` runs with file descriptor 2 captured; afterwards
the informational and warning lines of that phase are dropped and anything else (an error, a crash
message) is written out. Python exceptions are untouched: they propagate as usual.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

#: TensorFlow's C++ log level: 3 hides INFO, WARNING and ERROR lines (FATAL ones still show).
QUIET_LEVEL = "3"
#: Lines of the library-loading phase that are noise: absl's banner and INFO/WARNING records.
LOADING_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IW]\d{4} "
    r"|To enable the following instructions:)"
)


@contextmanager
def captured_stderr_fd(lines: list[str]) -> Iterator[None]:
    """Capture what anything (C++ included) writes to file descriptor 2 into ``lines`` (filled at exit)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines.extend(capture.read().decode("utf-8", "replace").splitlines())


class _QuietFirstImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` once and wraps its loading in :func:`captured_stderr_fd`."""

    def find_spec(self, name: str, path: object = None, target: ModuleType | None = None):  # noqa: ANN201
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            lines: list[str] = []
            failed = True
            try:
                with captured_stderr_fd(lines):
                    load(module)
                failed = False
            finally:
                # A failed import keeps every line: what it wrote may explain why.
                for line in lines:
                    if failed or not LOADING_NOISE.match(line):
                        print(line, file=sys.stderr)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def quiet_tensorflow() -> None:
    """Silence TensorFlow's start-up and C++ logging for this process (call before it is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_LEVEL)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFirstImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFirstImport())
