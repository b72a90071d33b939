"""Which workers of one gunicorn master can answer: a file per ready worker, so the others can tell.

Why: every worker accepts from the same listening socket, so a worker whose model has no AVAILABLE
version (its load failed, or its folder was gone at its last scan) would answer its share of the
connections with errors while its siblings serve. Each worker publishes here whether it is ready; one
that is not stops accepting connections while another one is (``webapp.http.gunicorn_worker``), and
takes them again once it is ready or when no sibling is (then it answers, 503 on ``/readyz`` included,
rather than leave clients waiting). The files are on the workers' tmpfs folder and hold nothing: a
ready worker touches its file every second; a file older than ``STALE_SECONDS`` or of a dead process
does not count.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

STALE_SECONDS = 3.0


class ReadinessBoard:
    """The ready workers of the master ``master_pid``, one empty file each in ``folder``."""

    def __init__(self, folder: Path, master_pid: int, pid: int) -> None:
        self.folder = Path(folder) / f"emnist-ready-{master_pid}"
        self.pid = pid
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    @property
    def own_file(self) -> Path:
        return self.folder / str(self.pid)

    def publish(self, ready: bool) -> None:
        """Say whether this worker can answer (touch its file, or remove it)."""
        if ready:
            self.own_file.touch()
        else:
            with contextlib.suppress(FileNotFoundError):
                self.own_file.unlink()

    def others_ready(self) -> bool:
        """True when another live worker of the same master said it is ready in the last seconds."""
        now = time.time()
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.folder):
                if not entry.name.isdigit() or int(entry.name) == self.pid:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if now - entry.stat().st_mtime < STALE_SECONDS and _alive(int(entry.name)):
                        return True
        return False

    def leave(self) -> None:
        self.publish(False)
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # the last worker out removes the folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
