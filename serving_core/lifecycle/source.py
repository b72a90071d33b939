"""A model's versions on disk: TF Serving's file-system storage path source.

A version is a folder named by a decimal number under the model's base path (``emnist_contract.layout``);
dot-prefixed staging folders and other names are skipped, so a converter can build ``.tmp-2-x/`` and
rename it to ``2/`` atomically. A version that failed to load is retried only when its fingerprint (the
names, sizes and modification times of its files) changes. ``incomplete`` tells a folder that is still
being copied in place (a SavedModel without its variables, an empty model file) from a whole one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from emnist_contract import layout
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


def newest_change(entries: Fingerprint) -> float:
    """When the most recently modified file of a fingerprint changed (seconds since the epoch; 0 if none)."""
    return max((mtime for _, _, mtime in entries), default=0) / 1e9


def incomplete(path: Path, kind: str) -> str | None:
    """Why the version folder is not whole yet for the ``kind`` engine (None when it is).

    The engine's file must be there and not empty, and a SavedModel, once any of it is there, must be
    whole: ``saved_model.pb``, ``variables/variables.index`` and every data shard the shard names count.
    """
    saved_model, variables = path / layout.SAVED_MODEL_FILE, path / layout.VARIABLES_DIR
    needed = {layout.ONNX_FILE if kind == "onnxruntime" else layout.SAVED_MODEL_FILE}
    if saved_model.exists() or variables.exists():
        needed.add(layout.SAVED_MODEL_FILE)
    for name in sorted(needed):
        if not (path / name).is_file() or (path / name).stat().st_size == 0:
            return f"{name} is missing or empty"
    if not saved_model.exists():
        return None
    if not variables.is_dir():
        return f"{layout.SAVED_MODEL_FILE} is there but its {layout.VARIABLES_DIR}/ is not"
    if not (variables / layout.VARIABLES_INDEX).is_file():
        return f"{layout.VARIABLES_DIR}/{layout.VARIABLES_INDEX} is missing"
    shards = [child.name for child in variables.iterdir() if child.name.startswith(layout.VARIABLES_DATA)]
    counts = {name.rsplit("-of-", 1)[-1] for name in shards}
    if not shards or len(counts) != 1 or not counts.pop().isdigit():
        return f"{layout.VARIABLES_DIR}/ has no consistent set of data shards"
    total = int(shards[0].rsplit("-of-", 1)[-1])
    expected = {f"{layout.VARIABLES_DATA}-{i:05d}-of-{total:05d}" for i in range(total)}
    if not expected <= set(shards):
        return f"{layout.VARIABLES_DIR}/ has {len(shards)} of its {total} data shards"
    return None
