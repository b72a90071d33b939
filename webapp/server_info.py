"""What the server says it is: its name and version, as the metadata APIs of every protocol report them."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

#: The distribution's name (pyproject.toml), reported as the server's name.
SERVER_NAME = "emnist-serving"
_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@cache
def server_version() -> str:
    """The installed distribution's version, else the checkout's pyproject.toml version."""
    try:
        return metadata.version(SERVER_NAME)
    except metadata.PackageNotFoundError:
        pass
    try:
        with _PYPROJECT.open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"
