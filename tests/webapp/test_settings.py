"""The server's settings: defaults, EMNIST_* variables, explicit config, refusals, and their documentation."""

from __future__ import annotations

import os
import runpy
import sys

import pytest

from tests.support.paths import REPO
from webapp import create_app
from webapp.settings import ENV_PREFIX, SETTINGS, SettingsError, load_settings, markdown_table

#: gunicorn's variables, which keep their own names (not EMNIST_*).
GUNICORN_VARIABLES = tuple(s.variable for s in SETTINGS if not s.variable.startswith(ENV_PREFIX))


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


@pytest.mark.parametrize(("tensorflow_installed", "expected"), [(True, "tensorflow"), (False, "onnxruntime")])
def test_the_auto_engine_is_tensorflow_where_it_is_installed(monkeypatch, tensorflow_installed, expected):
    if not tensorflow_installed:
        monkeypatch.setitem(sys.modules, "tensorflow", None)  # what an install of the serve extra sees
    default, _ = load_settings(environ={})
    from_environment, _ = load_settings(environ={"EMNIST_ENGINE": "auto"})
    from_config, _ = load_settings({"ENGINE": "auto"}, environ={})
    assert default["ENGINE"] == from_environment["ENGINE"] == from_config["ENGINE"] == expected
    assert default.core_options().engine == expected


def test_the_tensorflow_engine_without_tensorflow_is_refused_with_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(SettingsError, match="EMNIST_ENGINE: the tensorflow engine needs TensorFlow.*serve"):
        load_settings(environ={"EMNIST_ENGINE": "tensorflow"})
    settings, _ = load_settings(environ={"EMNIST_ENGINE": "onnxruntime"})
    assert settings["ENGINE"] == "onnxruntime"


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


def gunicorn_conf(monkeypatch, **variables: str) -> dict:
    """gunicorn.conf.py's names as gunicorn reads them, with only ``variables`` of gunicorn's set."""
    for variable in GUNICORN_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)
    return runpy.run_path(str(REPO / "gunicorn.conf.py"))


def test_the_readme_gives_gunicorns_limits_as_gunicorn_conf_sets_them(monkeypatch):
    conf = gunicorn_conf(monkeypatch)
    limits = _readme_limits()
    seconds = {"keepalive", "timeout", "graceful_timeout"}
    for name in ("keepalive", "limit_request_line", "limit_request_fields", "limit_request_field_size",
                 "worker_connections", "threads", "timeout", "graceful_timeout"):
        assert _shown(conf[name], " s" if name in seconds else "") in limits[f"gunicorn {name}"], name


def test_gunicorns_variables_are_settings_of_the_table():
    assert set(GUNICORN_VARIABLES) == {"GUNICORN_BIND", "WEB_CONCURRENCY", "GUNICORN_THREADS",
                                       "GUNICORN_ACCESSLOG", "GUNICORN_LOGLEVEL", "GUNICORN_CONTROL_SOCKET"}
    settings, _ = load_settings(environ={
        "GUNICORN_BIND": "[::1]:9000", "WEB_CONCURRENCY": "3", "GUNICORN_THREADS": "8",
        "GUNICORN_ACCESSLOG": "-", "GUNICORN_LOGLEVEL": "WARNING", "GUNICORN_CONTROL_SOCKET": "/run/g.ctl",
        "GUNICORN_CMD_ARGS": "--timeout 5",  # gunicorn's own: not a setting of the table, not refused
    })
    assert settings["GUNICORN_BIND"] == "[::1]:9000"
    assert settings.gunicorn_workers == settings["GUNICORN_WORKERS"] == 3
    assert settings["GUNICORN_THREADS"] == 8
    assert settings["GUNICORN_ACCESSLOG"] == "-"
    assert settings["GUNICORN_LOGLEVEL"] == "warning"
    assert settings["GUNICORN_CONTROL_SOCKET"] == "/run/g.ctl"


@pytest.mark.parametrize(("variable", "value"), [
    ("GUNICORN_BIND", "localhost"), ("GUNICORN_BIND", "0.0.0.0:http"), ("GUNICORN_BIND", "::1:8000"),
    ("GUNICORN_BIND", "127.0.0.1:70000"), ("WEB_CONCURRENCY", "two"), ("WEB_CONCURRENCY", "-1"),
    ("GUNICORN_THREADS", "0"), ("GUNICORN_LOGLEVEL", "loud"),
])
def test_bad_gunicorn_values_name_their_variable(variable, value):
    with pytest.raises(SettingsError, match=f"environment variable {variable}: "):
        load_settings(environ={variable: value})


@pytest.mark.parametrize(("variable", "value"), [
    ("GUNICORN_BIND", "localhost"), ("WEB_CONCURRENCY", "two"), ("GUNICORN_THREADS", "0"),
    ("GUNICORN_LOGLEVEL", "loud"), ("EMNIST_GRAPHPIPE_PORT", "graphpipe"),
])
def test_gunicorn_conf_stops_on_a_bad_value_with_the_variable_named(monkeypatch, variable, value):
    with pytest.raises(SystemExit, match=f"environment variable {variable}: "):
        gunicorn_conf(monkeypatch, **{variable: value})


def test_gunicorn_conf_takes_its_variables_from_the_table(monkeypatch, tmp_path):
    conf = gunicorn_conf(monkeypatch, GUNICORN_BIND="0.0.0.0:9000", WEB_CONCURRENCY="3", GUNICORN_THREADS="6",
                         GUNICORN_ACCESSLOG=str(tmp_path / "access.log"), GUNICORN_LOGLEVEL="debug",
                         GUNICORN_CONTROL_SOCKET=str(tmp_path / "g.ctl"))
    assert (conf["bind"], conf["workers"], conf["threads"]) == ("0.0.0.0:9000", 3, 6)
    assert (conf["accesslog"], conf["loglevel"]) == (str(tmp_path / "access.log"), "debug")
    assert (conf["control_socket"], conf["control_socket_disable"]) == (str(tmp_path / "g.ctl"), False)
    defaults = gunicorn_conf(monkeypatch, GUNICORN_ACCESSLOG="", GUNICORN_CONTROL_SOCKET="")
    assert (defaults["bind"], defaults["threads"], defaults["loglevel"]) == ("127.0.0.1:8000", 4, "info")
    assert defaults["accesslog"] is None and defaults["control_socket_disable"] is True


def test_gunicorn_workers_default_to_the_cores_this_process_may_use(monkeypatch):
    """One worker per core the process is allowed (its affinity: a container's cpuset), not a fixed count."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    assert gunicorn_conf(monkeypatch)["workers"] == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1}, raising=False)
    assert gunicorn_conf(monkeypatch)["workers"] == 1
    assert load_settings(environ={})[0].grpc_workers == 1  # the gRPC workers' default counts the same way
