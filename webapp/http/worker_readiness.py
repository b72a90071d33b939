"""Which workers of one gunicorn master can answer: a file per ready worker, so the others can tell.

Why: every worker accepts from the same listening socket, so a worker whose model has no AVAILABLE
version (its load failed, or its folder was gone at its last scan) would answer its share of the
connections with errors while its siblings serve. Each worker publishes here whether it is ready; one
that is not stops accepting connections while another one is (``webapp.http.gunicorn_worker``), and
takes them again once it is ready or when no sibling is (then it answers, 503 on ``/readyz`` included,
rather than leave clients waiting). The files are on the workers' tmpfs folder and hold nothing: a
ready worker touches its file every second; a file older than ``STALE_SECONDS`` or of a dead process
does not count.

A worker that is not ready but still takes connections (no sibling was ready at its last look) says so
too (``<pid>.unready``): until it has stopped taking them, a ready sibling's readiness probe answers "not
ready", so that ``/readyz`` answering 200 means the next requests, whichever worker takes them, are
answered (a front end whose workers reach the model servers one after the other, a worker still loading
its model).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

STALE_SECONDS = 3.0
#: The suffix of a worker's file saying it takes connections it cannot answer.
UNREADY = ".unready"


class ReadinessBoard:
    """The ready workers of the master ``master_pid``, one empty file each in ``folder``."""

    def __init__(self, folder: Path, master_pid: int, pid: int) -> None:
        self.folder = Path(folder) / f"emnist-ready-{master_pid}"
        self.pid = pid
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    @property
    def own_file(self) -> Path:
        return self.folder / str(self.pid)

    @property
    def own_unready_file(self) -> Path:
        return self.folder / f"{self.pid}{UNREADY}"

    def publish(self, ready: bool) -> None:
        """Say whether this worker can answer (touch its file, or remove it)."""
        _mark(self.own_file, ready)

    def refresh(self) -> None:
        """Keep what this worker said fresh (while it takes long to find out what to say next)."""
        for path in (self.own_file, self.own_unready_file):
            with contextlib.suppress(FileNotFoundError):
                os.utime(path)

    def publish_unready_accepting(self, unready_accepting: bool) -> None:
        """Say whether this worker takes connections it cannot answer."""
        _mark(self.own_unready_file, unready_accepting)

    def others_ready(self) -> bool:
        """True when another live worker of the same master said it is ready in the last seconds."""
        return self._others_say("")

    def others_unready_accepting(self) -> bool:
        """True when another live worker said in the last seconds that it takes connections it cannot
        answer."""
        return self._others_say(UNREADY)

    def _others_say(self, suffix: str) -> bool:
        now = time.time()
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.folder):
                pid = entry.name.removesuffix(suffix)
                if not entry.name.endswith(suffix) or not pid.isdigit() or int(pid) == self.pid:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if now - entry.stat().st_mtime < STALE_SECONDS and _alive(int(pid)):
                        return True
        return False

    def leave(self) -> None:
        self.publish(False)
        self.publish_unready_accepting(False)
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
