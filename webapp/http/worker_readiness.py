"""Which workers of one gunicorn master can answer: a file per ready worker, so the others can tell.

Why: every worker accepts from the same listening socket, so a worker whose model has no AVAILABLE
version (its load failed, or its folder was gone at its last scan) would answer its share of the
connections with errors while its siblings serve. Each worker publishes here whether it is ready; one
that is not stops accepting connections while another one is (``webapp.http.gunicorn_worker``), and
takes them again once it is ready or when no sibling is (then it answers, 503 on ``/readyz`` included,
rather than leave clients waiting). The files are on the workers' tmpfs folder and hold nothing: a
ready worker touches its file every second; a file older than ``STALE_SECONDS`` or of a dead process
does not count.

Every second each worker says exactly one of three things: ready (``<pid>``), paused (``<pid>.paused``:
not ready, not taking connections) or unready (``<pid>.unready``: not ready, and taking connections since
no sibling is ready). A ready worker's readiness probe answers "not ready" while a live sibling has not
lately said ready or paused, so that ``/readyz`` answering 200 means the next requests, whichever worker
takes them, are answered (a front end whose workers reach the model servers one after the other, a worker
still loading its model). A sibling whose word is stale (a worker starved of CPU) holds it back too.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

STALE_SECONDS = 3.0
#: The suffixes of a worker's file: ready, paused, unready (``publish``).
READY, PAUSED, UNREADY = "", ".paused", ".unready"


class ReadinessBoard:
    """The ready workers of the master ``master_pid``, one empty file each in ``folder``."""

    def __init__(self, folder: Path, master_pid: int, pid: int) -> None:
        self.folder = Path(folder) / f"emnist-ready-{master_pid}"
        self.pid = pid
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _own(self, suffix: str) -> Path:
        return self.folder / f"{self.pid}{suffix}"

    def publish(self, ready: bool, paused: bool = False) -> None:
        """Say whether this worker can answer, and if not, whether it takes connections."""
        said = READY if ready else PAUSED if paused else UNREADY
        for suffix in (READY, PAUSED, UNREADY):
            _mark(self._own(suffix), suffix == said)

    def refresh(self) -> None:
        """Keep what this worker said fresh (while it takes long to find out what to say next)."""
        for suffix in (READY, PAUSED, UNREADY):
            with contextlib.suppress(FileNotFoundError):
                os.utime(self._own(suffix))

    def others_ready(self) -> bool:
        """True when another live worker of the same master said it is ready in the last seconds."""
        return any(READY in said for said in self._others().values())

    def others_unsettled(self) -> bool:
        """True when another live worker has not said in the last seconds that it is ready or paused: it
        may be taking connections it cannot answer."""
        return any(not said & {READY, PAUSED} for said in self._others().values())

    def _others(self) -> dict[int, set[str]]:
        """Each other live worker that has a file here: what it said in the last seconds."""
        now = time.time()
        others: dict[int, set[str]] = {}
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.folder):
                pid, dot, suffix = entry.name.partition(".")
                if not pid.isdigit() or int(pid) == self.pid:
                    continue
                said = others.setdefault(int(pid), set())
                with contextlib.suppress(FileNotFoundError):
                    if now - entry.stat().st_mtime < STALE_SECONDS:
                        said.add(dot + suffix)
        return {pid: said for pid, said in others.items() if _alive(pid)}

    def leave(self) -> None:
        for suffix in (READY, PAUSED, UNREADY):
            _mark(self._own(suffix), False)
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # the last worker out removes the folder


def _mark(path: Path, present: bool) -> None:
    if present:
        path.touch()
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
