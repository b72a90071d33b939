"""Which models to serve, from where, with which policy and labels: TF Serving's model configuration.

Two forms, as ``tensorflow_model_server`` has them: the single-model flags (``--model_name``,
``--model_base_path``) and a ``--model_config_file`` holding a ``ModelServerConfig`` in protobuf text format
with a ``model_config_list``. The file is parsed with TF Serving's own protos (``tf_serving_protos``), so
a file that TF Serving accepts is accepted here and the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving_core.lifecycle.policy import ModelConfigError, VersionPolicy, parse_version_policy

# Engine kinds a model may name in ``model_platform``; "tensorflow" (TF Serving's own value, also the
# default when it is empty) means "the TF Serving layout, served with the app's configured engine".
SUPPORTED_PLATFORMS = ("tensorflow", "onnxruntime")


@dataclass(frozen=True)
class ModelSource:
    """One served model: TF Serving's ``ModelConfig`` reduced to what this server uses."""

    name: str
    base_path: Path
    platform: str = "tensorflow"
    policy: VersionPolicy = field(default_factory=VersionPolicy)
    labels: Mapping[str, int] = field(default_factory=dict)


def parse_version_labels(text: str | Mapping[str, int] | None) -> dict[str, int]:
    """Parse the single-model setting ``stable=1,canary=2`` (or pass a mapping through, validated)."""
    if text is None or text == "":
        return {}
    pairs: Iterable[tuple[str, object]]
    if isinstance(text, Mapping):
        pairs = text.items()
    else:
        pairs = []
        for item in str(text).split(","):
            if not item.strip():
                continue
            label, sep, version = item.partition("=")
            if not sep:
                raise ModelConfigError(f"invalid version label {item.strip()!r}: expected label=version")
            pairs.append((label.strip(), version.strip()))
    labels: dict[str, int] = {}
    for label, version in pairs:
        _check_label(label)
        try:
            labels[label] = int(version)  # type: ignore[call-overload]
        except (TypeError, ValueError) as exc:
            raise ModelConfigError(f"version label {label!r}: version {version!r} is not an integer") from exc
    return labels


def _check_label(label: str) -> None:
    # Labels appear in URLs (/v1/models/<name>/labels/<label>); a version number as label would be ambiguous.
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", label or ""):
        raise ModelConfigError(f"invalid version label {label!r}: use letters, digits, '_', '.', '-'")


def single_model_source(
    name: str,
    base_path: str | Path,
    platform: str = "tensorflow",
    policy: str | VersionPolicy | None = None,
    labels: str | Mapping[str, int] | None = None,
) -> ModelSource:
    """The ``--model_name`` / ``--model_base_path`` form."""
    if not name or "/" in name or ":" in name:
        raise ModelConfigError(f"invalid model name {name!r}")
    if not str(base_path):
        raise ModelConfigError(f"model {name!r}: empty base path")
    return ModelSource(
        name=name,
        base_path=Path(base_path).expanduser().resolve(),
        platform=_check_platform(name, platform),
        policy=parse_version_policy(policy),
        labels=parse_version_labels(labels),
    )


def _check_platform(name: str, platform: str) -> str:
    platform = platform or "tensorflow"
    if platform not in SUPPORTED_PLATFORMS:
        raise ModelConfigError(
            f"model {name!r}: model_platform {platform!r} is not supported (use one of {SUPPORTED_PLATFORMS})"
        )
    return platform


def parse_model_config_text(text: str, base_dir: str | Path = ".") -> list[ModelSource]:
    """Parse a ``ModelServerConfig`` text proto; a relative ``base_path`` is resolved against ``base_dir``."""
    from google.protobuf import text_format

    from tf_serving_protos.tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise ModelConfigError(f"not a ModelServerConfig text proto: {exc}") from exc
    return sources_from_config(config, base_dir)


def sources_from_config(config: Any, base_dir: str | Path = ".") -> list[ModelSource]:
    """The models of a ``ModelServerConfig`` message: a file's, or one a client sends to reload."""
    if config.WhichOneof("config") != "model_config_list":
        raise ModelConfigError("the config has no model_config_list (custom_model_config is not supported)")
    sources: list[ModelSource] = []
    seen: set[str] = set()
    for index, model in enumerate(config.model_config_list.config):
        where = f"model_config_list.config[{index}]"
        if not model.name:
            raise ModelConfigError(f"{where}: missing name")
        if model.name in seen:
            raise ModelConfigError(f"{where}: duplicate model name {model.name!r}")
        seen.add(model.name)
        if not model.base_path:
            raise ModelConfigError(f"{where} ({model.name}): missing base_path")
        base_path = Path(model.base_path).expanduser()
        if not base_path.is_absolute():
            base_path = Path(base_dir) / base_path
        try:
            source = ModelSource(
                name=model.name,
                base_path=base_path.resolve(),
                platform=_check_platform(model.name, model.model_platform),
                policy=_policy_from_proto(model.model_version_policy),
                labels=parse_version_labels(dict(model.version_labels)),
            )
        except ModelConfigError as exc:
            raise ModelConfigError(f"{where} ({model.name}): {exc}") from exc
        sources.append(source)
    if not sources:
        raise ModelConfigError("model_config_list lists no model")
    return sources


def _policy_from_proto(policy) -> VersionPolicy:  # noqa: ANN001 - a FileSystemStoragePathSourceConfig policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return VersionPolicy("all")
    if choice == "specific":
        return VersionPolicy("specific", versions=tuple(sorted(set(policy.specific.versions))))
    # Unset policy and ``latest {}`` both mean the latest 1, as in TF Serving.
    return VersionPolicy("latest", num_versions=policy.latest.num_versions or 1)


def load_model_config_file(path: str | Path) -> list[ModelSource]:
    """Read and parse a ``--model_config_file``; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelConfigError(f"cannot read model config file {path}: {exc}") from exc
    try:
        return parse_model_config_text(text, base_dir=path.resolve().parent)
    except ModelConfigError as exc:
        raise ModelConfigError(f"{path}: {exc}") from exc
