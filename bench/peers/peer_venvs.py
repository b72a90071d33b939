"""One virtual environment per peer server, from PyPI at pinned versions, cached outside the repository.

A peer's folder is ``<cache>/<peer>-<key>``, the key a hash of its pins and the interpreter's version, so a
changed pin installs afresh and an unchanged one is reused (``~/.cache/emnist-peers`` by default; CI keeps
it between runs). Every peer gets onnxruntime at the version this project pins (requirements.txt), so
every server runs the same engine. An install is made in a scratch folder and renamed when it succeeded:
a folder in the cache is always complete. A peer that cannot install is reported with pip's own words.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = Path.home() / ".cache" / "emnist-peers"
INSTALL_TIMEOUT_S = 1200


def project_pin(package: str) -> str:
    """``package==version`` as requirements.txt pins it (the project's own engine version)."""
    text = (REPO / "requirements.txt").read_text()
    match = re.search(rf"^{re.escape(package)}==([^\s;#]+)", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"requirements.txt pins no {package}")
    return f"{package}=={match.group(1)}"


def peer_pins() -> dict[str, list[str]]:
    """The packages each peer's environment installs (its server at a pinned version, and the engine)."""
    engine = project_pin("onnxruntime")
    return {
        # uvloop 0.22+ refuses asyncio.get_event_loop() without a loop, which MLServer 1.7's inference
        # workers call first thing: they die at start.
        "mlserver": ["mlserver==1.7.1", "uvloop==0.21.0", engine],
        "bentoml": ["bentoml==1.4.40", engine],
        "litserve": ["litserve==0.2.19", engine],
        # TorchServe's worker imports torch (the project's only torch pin) and yaml (undeclared).
        "torchserve": ["torchserve==0.12.0", "torch-model-archiver==0.12.0", "torch==2.13.0", "pyyaml==6.0.3",
                       engine],
    }


@dataclass(frozen=True)
class PeerEnv:
    peer: str
    folder: Path
    #: The installed versions of the pinned packages (``name==version``), from pip.
    versions: dict[str, str]

    @property
    def python(self) -> Path:
        return self.folder / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.folder / "bin"


class InstallError(RuntimeError):
    """A peer's packages did not install (the message holds the end of pip's output)."""


def env_folder(cache: Path, peer: str, pins: list[str]) -> Path:
    key = hashlib.sha256("\n".join([sys.version.split()[0], *pins]).encode()).hexdigest()[:12]
    return cache / f"{peer}-{key}"


def ensure_env(peer: str, cache: Path = DEFAULT_CACHE, log=print) -> PeerEnv:
    """The peer's environment, installed first when the cache lacks it (InstallError if pip fails)."""
    pins = peer_pins()[peer]
    folder = env_folder(cache, peer, pins)
    marker = folder / "versions.txt"  # written last: a folder without it is an interrupted install
    if not marker.is_file():
        log(f"installing {peer} ({' '.join(pins)}) into {folder} ...")
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        python = folder / "bin" / "python"
        try:
            base_python = getattr(sys, "_base_executable", sys.executable)
            subprocess.run([base_python, "-m", "venv", str(folder)], check=True, capture_output=True,
                           timeout=300)
            result = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                                     "-q", *pins], capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
            if result.returncode != 0:
                lines = [line for line in (result.stdout + result.stderr).splitlines()
                         if line.strip() and not line.startswith("WARNING: Location")]
                raise InstallError(f"pip install {' '.join(pins)} failed: {' / '.join(lines[-6:])}")
            names = [re.split(r"[=<>]", pin)[0] for pin in pins]
            shown = subprocess.run([str(python), "-m", "pip", "show", *names], capture_output=True, text=True,
                                   timeout=120).stdout
            pairs = re.findall(r"^Name: (\S+)\nVersion: (\S+)", shown, re.MULTILINE)
            marker.write_text("".join(f"{name}=={version}\n" for name, version in pairs))
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise InstallError(f"creating {peer}'s environment failed: {exc}") from None
    versions = dict(line.split("==", 1) for line in marker.read_text().split())
    return PeerEnv(peer, folder, versions)
