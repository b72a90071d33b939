"""A bounded load from several threads that checks which version computed every answer.

Each test version is a different model (its own weights, ``model_versions.write_onnx_version``), so an
answer tells by its scores which version computed it; a request that mixed two versions, or was
answered by a closed engine, would not match.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from tests.support.model_versions import expected_scores

IMAGES = np.random.default_rng(7).random((2, 784), dtype=np.float32)
SEED_OF_VERSION = {1: 11, 2: 12, 3: 13}
THREADS = 4
MAX_SECONDS = 20.0  # bound on every load phase (a healthy run needs well under a second per phase)


def version_of(scores: np.ndarray) -> int | None:
    """Which version's model computed these scores (None: no version's)."""
    for version, seed in SEED_OF_VERSION.items():
        if np.allclose(scores, expected_scores(seed, IMAGES), atol=1e-5):
            return version
    return None


class ThreadedLoad:
    """Threads running ``self._run(index)`` from ``with`` until its end (each joined within MAX_SECONDS)."""

    def __init__(self, threads: int = THREADS) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, index: int) -> None:
        raise NotImplementedError

    def __enter__(self) -> ThreadedLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(MAX_SECONDS)


class LoadRunner(ThreadedLoad):
    """A bounded load from several threads; records every answer's version and every failure."""

    def __init__(self, request: Callable[[], tuple[int, np.ndarray]], threads: int = THREADS) -> None:
        self.request = request
        self.answers: list[list[int]] = [[] for _ in range(threads)]
        self.failures: list[str] = []
        super().__init__(threads)

    def _run(self, index: int) -> None:
        while not self._stop.is_set():
            try:
                claimed, scores = self.request()
            except Exception as exc:  # every failure is recorded, none may happen
                self.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            computed = version_of(scores)
            if computed != claimed:
                self.failures.append(f"answer claims version {claimed} but was computed by {computed}")
            self.answers[index].append(claimed)

    def wait_until_every_thread_saw(self, version: int, then_requests: int = 20) -> None:
        """Wait until each thread got ``version``, then ``then_requests`` more answers each."""
        deadline = time.monotonic() + MAX_SECONDS
        marks: dict[int, int] = {}
        while time.monotonic() < deadline:
            for index, answers in enumerate(self.answers):
                if index not in marks and version in answers:
                    marks[index] = len(answers)
            if len(marks) == len(self.answers) and all(
                len(self.answers[i]) >= marks[i] + then_requests for i in marks
            ):
                return
            time.sleep(0.01)
        raise AssertionError(f"not every thread saw version {version} within {MAX_SECONDS} s")

    def count(self) -> int:
        return sum(len(answers) for answers in self.answers)
