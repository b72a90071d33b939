"""The image's entrypoint: the role from the command, TF Serving's variables and flags, SageMaker's
model directory in its three layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from webapp.container_entrypoint import SAGEMAKER_GRACEFUL_SECONDS, launch_for, sagemaker_launch
from webapp.container_models import ModelFolderError, find_model
from webapp.settings import load_settings

IMAGE_ENV = {"MODEL_NAME": "emnist", "MODEL_BASE_PATH": "/models"}


def version(folder: Path, files: tuple[str, ...] = ("model.onnx",)) -> Path:
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_bytes(b"x")
    return folder


def settings_of(environment: dict[str, str]):
    return load_settings(environ=environment)[0]


def test_no_command_is_the_model_server_on_every_interface(tmp_path):
    launch = launch_for([], IMAGE_ENV, tmp_path)
    assert launch.arguments == ["--host", "0.0.0.0"]
    assert settings_of(launch.environment).model_base_path == Path("/models/emnist")


def test_tf_servings_variables_and_flags(tmp_path):
    launch = launch_for(["--model_config_file=/models/models.config", "--port", "9000",
                         "--rest_api_port=8501", "--file_system_poll_wait_seconds=5", "--enable_batching"],
                        IMAGE_ENV, tmp_path)
    assert launch.arguments == ["--host", "0.0.0.0", "--port", "9000", "--rest_api_port", "8501"]
    settings = settings_of(launch.environment)
    assert settings["MODEL_CONFIG_FILE"] == "/models/models.config"
    assert settings["FILE_SYSTEM_POLL_SECONDS"] == 5.0
    assert settings["ENABLE_BATCHING"] is True


def test_explicit_emnist_variables_win_over_tf_servings(tmp_path):
    environment = {**IMAGE_ENV, "EMNIST_MODEL_NAME": "letters", "EMNIST_MODEL_BASE_PATH": "/data"}
    launch = launch_for(["model-server"], environment, tmp_path)
    assert settings_of({**environment, **launch.environment}).model_base_path == Path("/data/letters")


def test_model_base_path_flag_names_the_models_own_folder(tmp_path):
    folder = tmp_path / "anywhere" / "exported"
    version(folder / "3")
    launch = launch_for(["--model_name=digits", f"--model_base_path={folder}"], IMAGE_ENV, tmp_path / "links")
    settings = settings_of(launch.environment)
    assert settings["MODEL_NAME"] == "digits"
    assert settings.model_base_path.resolve() == folder.resolve()


def test_front_end_needs_model_servers_and_runs_no_grpc(tmp_path):
    with pytest.raises(SystemExit, match="EMNIST_MODEL_SERVER"):
        launch_for(["front-end"], IMAGE_ENV, tmp_path)
    launch = launch_for(["front-end", "--model_server", "grpc://a:8500,grpc://b:8500"], IMAGE_ENV, tmp_path)
    assert launch.arguments == ["--host", "0.0.0.0", "--port", "0"]
    assert settings_of(launch.environment)["MODEL_SERVER"] == "grpc://a:8500,grpc://b:8500"


def test_unknown_role_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="unknown role 'train'"):
        launch_for(["train"], IMAGE_ENV, tmp_path)


@pytest.mark.parametrize("layout", ["single-version", "version-folders", "named-model"])
def test_sagemaker_model_directory_layouts(tmp_path, layout):
    model_dir = tmp_path / "opt-ml-model"
    if layout == "single-version":
        version(model_dir, ("saved_model.pb", "model.onnx"))
    elif layout == "version-folders":
        version(model_dir / "1")
        version(model_dir / "2")
    else:
        version(model_dir / "letters" / "4")
    launch = sagemaker_launch([], IMAGE_ENV, tmp_path / "links", model_dir)
    assert launch.arguments == ["--host", "0.0.0.0", "--rest_api_port", "8080", "--port", "0"]
    assert launch.environment["GUNICORN_CMD_ARGS"] == f"--graceful-timeout {SAGEMAKER_GRACEFUL_SECONDS}"
    settings = settings_of(launch.environment)
    versions = sorted(child.name for child in settings.model_base_path.iterdir() if child.name.isdigit())
    expected = {"single-version": ["1"], "version-folders": ["1", "2"], "named-model": ["4"]}[layout]
    assert versions == expected
    assert settings["MODEL_NAME"] == ("letters" if layout == "named-model" else "emnist")
    assert (settings.model_base_path / expected[0] / "model.onnx").is_file()


def test_sagemaker_port_and_stop_time_can_be_set(tmp_path):
    version(tmp_path / "model" / "1")
    environment = {**IMAGE_ENV, "SAGEMAKER_BIND_TO_PORT": "9090", "GUNICORN_CMD_ARGS": "--graceful-timeout 5"}
    launch = sagemaker_launch([], environment, tmp_path / "links", tmp_path / "model")
    assert launch.arguments[3] == "9090"
    assert "GUNICORN_CMD_ARGS" not in launch.environment


@pytest.mark.parametrize("contents", [[], ["README.txt"], ["a/1", "b/1"]])
def test_sagemaker_directory_without_one_model_is_refused(tmp_path, contents):
    for entry in contents:
        (tmp_path / entry).mkdir(parents=True) if "/" in entry else (tmp_path / entry).write_text("x")
    with pytest.raises(ModelFolderError, match=str(tmp_path)):
        find_model(tmp_path, "emnist")
    with pytest.raises(SystemExit, match="serve: "):
        sagemaker_launch([], IMAGE_ENV, tmp_path / "links", tmp_path)


def test_serve_takes_no_arguments(tmp_path):
    with pytest.raises(SystemExit, match="no arguments"):
        sagemaker_launch(["--port", "1"], IMAGE_ENV, tmp_path)
