"""The server's settings: defaults, EMNIST_* variables, explicit config, refusals, and their documentation."""

from __future__ import annotations

import runpy

import pytest

from tests.support.paths import REPO
from webapp import create_app
from webapp.settings import SETTINGS, SettingsError, load_settings, markdown_table


def test_environment_variables_are_parsed():
    settings, _ = load_settings(environ={
        "EMNIST_MODEL_NAME": "reference", "EMNIST_ENGINE": "onnxruntime", "EMNIST_MAX_INSTANCES": "7",
        "EMNIST_ENABLE_BATCHING": "true", "EMNIST_FILE_SYSTEM_POLL_SECONDS": "0.5", "UNRELATED": "x",
    })
    assert settings["MODEL_NAME"] == "reference"
    assert settings["ENGINE"] == "onnxruntime"
    assert settings["MAX_INSTANCES"] == 7
    assert settings["ENABLE_BATCHING"] is True
    assert settings["FILE_SYSTEM_POLL_SECONDS"] == 0.5
    assert settings["MAX_IMAGE_PIXELS"] == 40_000_000  # untouched default


@pytest.mark.parametrize(("variable", "value"), [
    ("EMNIST_MAX_INSTANCES", "many"),
    ("EMNIST_ENABLE_BATCHING", "perhaps"),
    ("EMNIST_MODEL_WARMUP", "ture"),  # a typo in a boolean is refused, not read as False
    ("EMNIST_FILE_SYSTEM_POLL_SECONDS", "soon"),
    ("EMNIST_MODEL_VERSION_POLICY", "newest"),
    ("EMNIST_MODEL_VERSION_LABELS", "stable"),
    ("EMNIST_TF_INTRA_OP_THREADS", "-2"),
])
def test_bad_environment_values_name_their_variable(variable, value):
    with pytest.raises(SettingsError, match=variable):
        load_settings(environ={variable: value})


def test_unknown_variables_and_keys_are_refused():
    with pytest.raises(SettingsError, match="EMNIST_MAX_INSTANCE\\b"):
        load_settings(environ={"EMNIST_MAX_INSTANCE": "3"})
    with pytest.raises(SettingsError, match="'MAX_INSTANCE'"):
        create_app({"START_REGISTRY": False, "MAX_INSTANCE": 3})


def test_environment_applies_and_config_wins(monkeypatch):
    monkeypatch.setenv("EMNIST_MAX_INSTANCES", "9")
    monkeypatch.setenv("EMNIST_MODEL_NAME", "reference")
    app = create_app({"START_REGISTRY": False, "MAX_IMAGE_PIXELS": 1234, "TESTING": True})
    assert app.config["MAX_INSTANCES"] == 9
    assert app.config["MAX_IMAGE_PIXELS"] == 1234
    assert app.config["MODEL_NAME"] == "reference"
    assert app.config["TESTING"] is True  # Flask's own keys pass through
    assert app.config["ENGINE"] == "tensorflow"
    settings = app.extensions["settings"]
    assert settings.model_base_path == REPO / "models" / "reference"
    assert app.extensions["front_end"].limits.max_instances == 9


def test_base_path_is_the_models_folder_or_the_models_own_folder(tmp_path):
    parent, _ = load_settings({"MODEL_BASE_PATH": str(tmp_path), "MODEL_NAME": "digits"}, environ={})
    own, _ = load_settings({"MODEL_BASE_PATH": str(tmp_path / "digits"), "MODEL_NAME": "digits"}, environ={})
    assert parent.model_base_path == own.model_base_path == tmp_path / "digits"
    (source,) = own.core_options().sources
    assert (source.name, source.base_path) == ("digits", tmp_path / "digits")


@pytest.mark.parametrize(("engine", "setting", "expected"), [
    ("tensorflow", "auto", True), ("onnxruntime", "auto", False), ("onnxruntime", "1", True),
    ("tensorflow", "0", False),
])
def test_batching_auto_follows_the_engine(engine, setting, expected):
    settings, _ = load_settings({"ENGINE": engine, "ENABLE_BATCHING": setting}, environ={})
    assert (settings.core_options().batching is not None) is expected


def test_nothing_is_loaded_without_starting_the_core():
    app = create_app({"START_REGISTRY": False, "MODEL_NAME": "reference"})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503


@pytest.mark.parametrize(("key", "value"), [("ENGINE", "torch"), ("MAX_INSTANCES", 0), ("DEFAULT_TOP_K", 63),
                                            ("MODEL_WARMUP", "maybe")])
def test_bad_settings_are_refused_at_start(key, value):
    with pytest.raises(SettingsError, match=key):
        create_app({"START_REGISTRY": False, key: value})


def test_every_setting_is_documented_with_its_default():
    """docs/operations.md holds the table ``python -m webapp.settings`` prints: no variable undocumented."""
    page = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert markdown_table() in page
    for setting in SETTINGS:
        assert f"`{setting.variable}`" in page


def _readme_limits() -> dict[str, str]:
    """The README's limits table: the limit's name (a variable, or ``gunicorn NAME``) -> its default cell."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Limits\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ") and "`" in line]
    return {row[1].split(" (")[0].strip("`").replace("` `", " ").replace("`", ""): row[2] for row in rows}


def _shown(value: float, unit: str = "") -> str:
    return f"{value:,.0f}{unit}" if float(value).is_integer() else f"{value:g}{unit}"


def test_the_readme_names_every_request_limit_with_its_default():
    limits = _readme_limits()
    names = [s for s in SETTINGS if s.key.startswith("MAX_") or s.key.startswith("REQUEST_")]
    assert len(names) >= 10
    for setting in names:
        unit = " s" if setting.key.endswith("_SECONDS") else ""
        assert _shown(setting.default, unit) in limits[setting.variable], setting.variable


def test_the_readme_gives_gunicorns_limits_as_gunicorn_conf_sets_them(monkeypatch):
    for variable in ("GUNICORN_THREADS", "WEB_CONCURRENCY", "GUNICORN_BIND"):
        monkeypatch.delenv(variable, raising=False)
    conf = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    limits = _readme_limits()
    seconds = {"keepalive", "timeout", "graceful_timeout"}
    for name in ("keepalive", "limit_request_line", "limit_request_fields", "limit_request_field_size",
                 "worker_connections", "threads", "timeout", "graceful_timeout"):
        assert _shown(conf[name], " s" if name in seconds else "") in limits[f"gunicorn {name}"], name
