"""Which of a model's version folders should be served: TF Serving's ``ServableVersionPolicy``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class ModelConfigError(ValueError):
    """The model configuration (file or settings) is invalid; the message says where and why."""


@dataclass(frozen=True)
class VersionPolicy:
    """``latest`` (the newest ``num_versions``), ``all``, or ``specific`` versions."""

    kind: str = "latest"  # "latest" | "all" | "specific"
    num_versions: int = 1  # for "latest"
    versions: tuple[int, ...] = ()  # for "specific"

    def __post_init__(self) -> None:
        if self.kind not in ("latest", "all", "specific"):
            raise ModelConfigError(f"unknown version policy {self.kind!r}: expected latest, all or specific")
        if self.kind == "latest" and self.num_versions < 1:
            raise ModelConfigError(f"latest version policy needs num_versions >= 1, got {self.num_versions}")
        if self.kind == "specific" and not self.versions:
            raise ModelConfigError("specific version policy needs at least one version")

    def select(self, candidates: Iterable[int]) -> set[int]:
        """The versions to serve among ``candidates`` (versions on disk that have not failed to load)."""
        candidates = set(candidates)
        if self.kind == "all":
            return candidates
        if self.kind == "specific":
            return candidates & set(self.versions)
        return set(sorted(candidates, reverse=True)[: self.num_versions])

    def describe(self) -> str:
        """Short text for logs and settings: ``latest:2``, ``all``, ``specific:1,3``."""
        if self.kind == "latest":
            return "latest" if self.num_versions == 1 else f"latest:{self.num_versions}"
        if self.kind == "specific":
            return "specific:" + ",".join(str(v) for v in self.versions)
        return "all"


def parse_version_policy(text: str | VersionPolicy | None) -> VersionPolicy:
    """Parse the single-model setting: ``latest``, ``latest:N``, ``all`` or ``specific:1,3``."""
    if isinstance(text, VersionPolicy):
        return text
    text = (text or "latest").strip().lower()
    kind, _, argument = text.partition(":")
    kind, argument = kind.strip(), argument.strip()
    try:
        if kind == "latest":
            return VersionPolicy("latest", num_versions=int(argument) if argument else 1)
        if kind == "all" and not argument:
            return VersionPolicy("all")
        if kind == "specific":
            versions = tuple(sorted({int(v) for v in argument.split(",") if v.strip()}))
            return VersionPolicy("specific", versions=versions)
    except ValueError as exc:
        if isinstance(exc, ModelConfigError):
            raise
        raise ModelConfigError(f"invalid version policy {text!r}: {exc}") from exc
    raise ModelConfigError(f"invalid version policy {text!r}: expected latest, latest:N, all or specific:1,3")
