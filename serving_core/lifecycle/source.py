"""A model's versions on disk: TF Serving's file-system storage path source.

A version is a folder named by a decimal number under the model's base path (``emnist_contract.layout``);
dot-prefixed staging folders and other names are skipped, so a converter can build ``.tmp-2-x/`` and
rename it to ``2/`` atomically. A version that failed to load is retried only when its fingerprint (the
names, sizes and modification times of its files) changes.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from emnist_contract.layout import is_version_name

Fingerprint = tuple[tuple[str, int, int], ...]


def list_versions(base_path: Path) -> dict[int, Path]:
    """Version number -> folder, for every version folder under ``base_path`` (OSError if unlistable)."""
    return {
        int(child.name): child
        for child in Path(base_path).iterdir()
        if is_version_name(child.name) and child.is_dir()
    }


def fingerprint(path: Path) -> Fingerprint:
    """Names, sizes and mtimes of every file under ``path``."""
    entries = []
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root, name)
            with contextlib.suppress(OSError):
                stat = file.stat()
                entries.append((str(file.relative_to(path)), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))
