"""Hand this machine's pip configuration to an image build, without baking it into the image.

pip here may be configured by files (``/etc/pip.conf``, the user's) and by ``PIP_*`` variables, and that
configuration may name local folders (``find-links``, ``file://`` indexes), a CA bundle and a constraints
file. A build sees none of it. This script merges what ``pip config list`` reports (variables over files)
into one pip.conf, to be passed as the build secret ``pip.conf`` (the Dockerfile's pip steps read it from
``/run/secrets/pip.conf``, a mount that never lands in a layer), and names every local path it refers to,
to be mounted read-only at the same path for the build (``--volume P:P:ro``), only into the build stages.

``python3 container/pip_build_config.py OUT.conf`` writes the file and prints the ``podman build``
arguments, one a line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SECRET_ID = "pip.conf"


def pip_config(python: str = sys.executable) -> dict[tuple[str, str], str]:
    """(section, key) -> value as pip sees it: the configuration files, then ``PIP_*`` variables on top."""
    listing = subprocess.run([python, "-m", "pip", "config", "list"], check=True, capture_output=True,
                             text=True).stdout
    files: dict[tuple[str, str], str] = {}
    variables: dict[tuple[str, str], str] = {}
    for line in listing.splitlines():
        name, _, quoted = line.partition("=")
        value = quoted.strip().strip("'\"")
        section, _, key = name.rpartition(".")
        if key == "config-file":  # PIP_CONFIG_FILE: the file itself is read, its name means nothing inside
            continue
        if section == ":env:":
            variables[("global", key)] = value
        elif section and key:
            files[(section, key)] = value
    return {**files, **variables}


def local_paths(config: dict[tuple[str, str], str]) -> list[Path]:
    """Every existing local file or folder a value names (plain paths and ``file://`` URLs). A local
    index (``.../simple``) links to its files by relative paths that leave it (``../../files/x.whl``), so
    the folder holding the index is named instead."""
    found: list[Path] = []
    for (_, key), value in config.items():
        for token in value.split():
            path = Path(token.removeprefix("file://")) if token.startswith(("file://", "/")) else None
            if path is None or not path.exists():
                continue
            if key in ("index-url", "extra-index-url") and path.is_dir():
                path = path.parent
            if path not in found:
                found.append(path)
    return found


def config_text(config: dict[tuple[str, str], str]) -> str:
    sections: dict[str, list[str]] = {}
    for (section, key), value in config.items():
        sections.setdefault(section, []).append(f"{key} = {value}")
    return "".join(f"[{section}]\n" + "\n".join(lines) + "\n" for section, lines in sections.items())


def podman_build_args(out: Path, python: str = sys.executable) -> list[str]:
    """Write the merged pip.conf to ``out``; the ``podman build`` arguments that hand it to the build."""
    config = pip_config(python)
    out.write_text(config_text(config))
    args = ["--secret", f"id={SECRET_ID},src={out}"]
    for path in local_paths(config):
        args += ["--volume", f"{path}:{path}:ro"]
    return args


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: pip_build_config.py OUT.conf")
    print("\n".join(podman_build_args(Path(sys.argv[1]))))
    os.chmod(sys.argv[1], 0o600)
