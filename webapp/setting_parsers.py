"""The parsers of the settings table's values (``webapp.settings``): each takes what the environment or
an override gives and returns the setting's value, or raises ValueError saying what was expected."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from serving_core.engines import AUTO, ENGINES, EngineError, resolve_engine
from serving_core.lifecycle.model_config import parse_version_labels
from serving_core.lifecycle.policy import parse_version_policy


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def optional_path(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(Path(str(value) if isinstance(value, Path) else text(value)).expanduser())


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = text(value).strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected a boolean (1/0, true/false, yes/no, on/off), got {value!r}")


def boolean_or_auto(value: Any) -> bool | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    return boolean(value)


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"expected an integer, got {value!r}")
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"expected an integer, got {value!r}") from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise ValueError(f"must be {bounds}, got {number}")
        return number

    return parse


def seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number of seconds, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if number < 0 or math.isnan(number) or math.isinf(number):
        raise ValueError(f"must be >= 0 seconds, got {value!r}")
    return number


def choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    return parse


def engine(value: Any) -> str:
    """An engine name, ``auto`` resolved (tensorflow where TensorFlow is installed, else onnxruntime)."""
    name = choice(AUTO, *ENGINES)(value)
    try:
        return resolve_engine(name)
    except EngineError as exc:
        raise ValueError(str(exc)) from None


def model_name(value: Any) -> str:
    name = text(value)
    if not name or "/" in name or ":" in name:
        raise ValueError(f"invalid model name {name!r}")
    return name


def policy(value: Any) -> str:
    return parse_version_policy(text(value)).describe()


def host(value: Any) -> str:
    host = text(value).strip()
    if not host or any(c in host for c in "/ "):
        raise ValueError(f"expected a host name or IP address, got {value!r}")
    return host


def model_servers(value: Any) -> str:
    from webapp.remote.addresses import parse_model_servers

    return ",".join(address.url for address in parse_model_servers(text(value)))


def bind(value: Any) -> str:
    """One gunicorn bind: ``HOST:PORT`` (``[IPv6]:PORT``), ``unix:PATH`` or ``fd://N``."""
    bind = text(value).strip()
    if bind.startswith("unix:") and len(bind) > len("unix:"):
        return bind
    if bind.startswith("fd://") and bind[len("fd://"):].isdigit():
        return bind
    host, colon, port = bind.rpartition(":")
    ipv6 = host.startswith("[") and host.endswith("]") and len(host) > 2
    if colon and port.isdigit() and int(port) <= 65535 and host and " " not in host and (
            ipv6 or ":" not in host):
        return bind
    raise ValueError(f"expected HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N, got {value!r}")


def tokens(value: Any) -> str:
    from webapp.api_tokens import parse_tokens

    return ",".join(parse_tokens(value))


def origins(value: Any) -> str:
    """Comma-separated origins (``scheme://host[:port]``, no path), or ``*`` for any origin."""
    origins = [item.strip().rstrip("/") for item in text(value).split(",") if item.strip()]
    for origin in origins:
        scheme, sep, host = origin.partition("://")
        if origin != "*" and (scheme not in ("http", "https") or not sep or not host
                              or any(c in host for c in "/ ?#*")):
            raise ValueError(f"expected origins like https://example.com[:port] or *, got {origin!r}")
    return ",".join(origins)


def log_target(value: Any) -> str | None:
    """``-`` (standard output), a file's path, or None (no log)."""
    return "-" if value == "-" else optional_path(value)


def log_level(value: Any) -> str:
    return choice("debug", "info", "warning", "error", "critical")(text(value).strip().lower())


def log_format(value: Any) -> str:
    return choice("plain", "json")(text(value).strip().lower())


def labels(value: Any) -> str:
    labels = parse_version_labels(value)
    return ",".join(f"{label}={version}" for label, version in labels.items())
