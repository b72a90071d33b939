"""Atomic file output: a reader (a server, a watcher, the next command) never sees half a file.

Every writer in ``model_tools`` goes through :func:`atomic_output`: it writes a hidden temporary file
beside the target, renames it over the target only when writing succeeded, and removes it otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on any error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_output(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)


def write_json_atomic(path: str | Path, content: dict[str, Any]) -> Path:
    """Write a JSON document (indent 1, final newline) atomically; returns the path."""
    write_text_atomic(path, json.dumps(content, indent=1) + "\n")
    return Path(path)
