"""The image's entrypoint: one image, the role chosen by its command, TF Serving's image conventions kept.

``docker run IMAGE [ROLE] [FLAGS]``:

* ``model-server`` (the default; also when the first argument is a flag): REST and the page on 8000, gRPC
  on 8500. As TF Serving's image does, it reads ``MODEL_NAME`` and ``MODEL_BASE_PATH`` (the model served is
  ``$MODEL_BASE_PATH/$MODEL_NAME``; ``EMNIST_MODEL_NAME`` / ``EMNIST_MODEL_BASE_PATH`` win when set) and
  takes ``tensorflow_model_server``'s flags for models (``--model_config_file=/models/models.config``,
  ``--model_name``, ``--model_base_path``, the poll intervals, ``--enable_batching``) and ports.
* ``front-end``: the page and the APIs before remote model servers (``EMNIST_MODEL_SERVER`` or
  ``--model_server grpc://a:8500,grpc://b:8500``); REST only.
* ``serve``: Amazon SageMaker's contract: ``/ping`` and ``/invocations`` (and every other route) on 8080
  (``SAGEMAKER_BIND_TO_PORT``), the model from ``/opt/ml/model`` (``webapp.container_models``), gRPC off,
  and gunicorn's graceful stop under SageMaker's 30 s between SIGTERM and SIGKILL.
* ``healthcheck``: the image's HEALTHCHECK (``webapp.container_healthcheck``).

Every role ends by exec'ing the launcher (``webapp.model_server``) in this process, so under tini it is the
process that receives SIGTERM and SIGHUP.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from webapp.container_models import (
    SAGEMAKER_MODEL_DIR,
    ModelFolder,
    ModelFolderError,
    find_model,
    link_base_path,
)

if __name__ == "__main__":
    # SIGHUP's default action ends a process: until the launcher installs its handler, a SIGHUP (a reload
    # asked for as the container starts: podman kill --signal HUP) would stop the server. Ignored from
    # here on (an ignored signal stays ignored across exec; the models are read at start anyway).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

ROLES = ("model-server", "front-end", "serve", "healthcheck")
#: SageMaker's port, unless it asks for another (SAGEMAKER_BIND_TO_PORT).
SAGEMAKER_PORT = 8080
#: gunicorn's graceful stop in the serve role: SageMaker kills the container 30 s after SIGTERM.
SAGEMAKER_GRACEFUL_SECONDS = 25
#: Default of TF Serving's image when MODEL_NAME is unset.
TF_SERVING_DEFAULT_NAME = "model"


@dataclass
class Launch:
    """What to exec: the launcher's arguments and the environment variables to set for it."""

    arguments: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)


def _flags_parser(role: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"IMAGE {role}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", help="gRPC port (default 8500; 0: no gRPC)")
    parser.add_argument("--rest_api_port", help="REST port (default 8000; 0: no REST)")
    parser.add_argument("--host", help="address both servers listen on (default 0.0.0.0)")
    parser.add_argument("--grpc_workers", help="gRPC processes (default: one per core)")
    if role == "front-end":
        parser.add_argument("--model_server", help="the model servers, e.g. grpc://a:8500,grpc://b:8500")
        return parser
    parser.add_argument("--model_name", help="the model's name (default: MODEL_NAME)")
    parser.add_argument("--model_base_path", help="the model's own folder of versions (as TF Serving's)")
    parser.add_argument("--model_config_file", help="a TF Serving model_config_list file")
    parser.add_argument("--model_config_file_poll_wait_seconds", help="re-read the config file this often")
    parser.add_argument("--file_system_poll_wait_seconds", help="scan for new versions this often")
    parser.add_argument("--enable_batching", nargs="?", const="true", help="server-side batching")
    return parser


#: TF Serving's flags that become a setting, and the setting's variable.
_SETTING_FLAGS = {
    "model_config_file": "EMNIST_MODEL_CONFIG_FILE",
    "model_config_file_poll_wait_seconds": "EMNIST_MODEL_CONFIG_FILE_POLL_SECONDS",
    "file_system_poll_wait_seconds": "EMNIST_FILE_SYSTEM_POLL_SECONDS",
    "enable_batching": "EMNIST_ENABLE_BATCHING",
    "model_server": "EMNIST_MODEL_SERVER",
}


def _launcher_flags(flags: argparse.Namespace) -> list[str]:
    arguments = ["--host", flags.host or "0.0.0.0"]
    for name in ("port", "rest_api_port", "grpc_workers"):
        value = getattr(flags, name, None)
        if value is not None:
            arguments += [f"--{name}", value]
    return arguments


def model_server_launch(argv: Sequence[str], environ: Mapping[str, str], links: Path) -> Launch:
    """The model server: TF Serving's variables and flags read as its image reads them."""
    flags = _flags_parser("model-server").parse_args(argv)
    launch = Launch(_launcher_flags(flags))
    name = flags.model_name or environ.get("EMNIST_MODEL_NAME") or environ.get("MODEL_NAME") \
        or TF_SERVING_DEFAULT_NAME
    launch.environment["EMNIST_MODEL_NAME"] = name
    if flags.model_base_path:
        # TF Serving's --model_base_path is the model's own folder, whatever its name.
        folder = ModelFolder(name, Path(flags.model_base_path))
        launch.environment["EMNIST_MODEL_BASE_PATH"] = str(link_base_path(folder, links))
    elif "EMNIST_MODEL_BASE_PATH" not in environ and environ.get("MODEL_BASE_PATH"):
        launch.environment["EMNIST_MODEL_BASE_PATH"] = environ["MODEL_BASE_PATH"]
    for flag, variable in _SETTING_FLAGS.items():
        value = getattr(flags, flag, None)
        if value is not None:
            launch.environment[variable] = value
    return launch


def front_end_launch(argv: Sequence[str], environ: Mapping[str, str]) -> Launch:
    """The front end: the page and the APIs, the inference done by EMNIST_MODEL_SERVER's servers."""
    flags = _flags_parser("front-end").parse_args(argv)
    servers = flags.model_server or environ.get("EMNIST_MODEL_SERVER")
    if not servers:
        raise SystemExit("front-end needs the model servers: set EMNIST_MODEL_SERVER (or --model_server), "
                         "e.g. grpc://models-a:8500,grpc://models-b:8500")
    flags.port = "0"
    launch = Launch(_launcher_flags(flags), {"EMNIST_MODEL_SERVER": servers})
    if "EMNIST_MODEL_NAME" not in environ and environ.get("MODEL_NAME"):
        launch.environment["EMNIST_MODEL_NAME"] = environ["MODEL_NAME"]
    return launch


def sagemaker_launch(argv: Sequence[str], environ: Mapping[str, str], links: Path,
                     model_dir: Path = SAGEMAKER_MODEL_DIR) -> Launch:
    """SageMaker's ``serve``: REST on 8080 with /ping and /invocations, the model in /opt/ml/model."""
    if argv:
        raise SystemExit(f"serve takes no arguments (SageMaker runs 'IMAGE serve'), got {list(argv)}")
    port = environ.get("SAGEMAKER_BIND_TO_PORT") or str(SAGEMAKER_PORT)
    default_name = environ.get("EMNIST_MODEL_NAME") or environ.get("MODEL_NAME") or TF_SERVING_DEFAULT_NAME
    try:
        model = find_model(model_dir, default_name)
    except ModelFolderError as exc:
        raise SystemExit(f"serve: {exc}") from None
    environment = {
        "EMNIST_MODEL_NAME": model.name,
        "EMNIST_MODEL_BASE_PATH": str(link_base_path(model, links)),
    }
    if "GUNICORN_CMD_ARGS" not in environ:
        environment["GUNICORN_CMD_ARGS"] = f"--graceful-timeout {SAGEMAKER_GRACEFUL_SECONDS}"
    return Launch(["--host", "0.0.0.0", "--rest_api_port", port, "--port", "0"], environment)


def launch_for(argv: Sequence[str], environ: Mapping[str, str], links: Path) -> Launch:
    """The launch of the role ``argv`` names (the model server when it names none)."""
    role, rest = (argv[0], list(argv[1:])) if argv and not argv[0].startswith("-") else ("model-server",
                                                                                           list(argv))
    if role == "model-server":
        return model_server_launch(rest, environ, links)
    if role == "front-end":
        return front_end_launch(rest, environ)
    if role == "serve":
        return sagemaker_launch(rest, environ, links)
    raise SystemExit(f"unknown role {role!r}: the image runs one of {', '.join(ROLES)} "
                     "(or the model server's flags alone)")


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["healthcheck"]:
        from webapp.container_healthcheck import main as healthcheck

        sys.exit(healthcheck(argv[1:]))
    launch = launch_for(argv, os.environ, Path(tempfile.gettempdir()) / "emnist-model-links")
    os.environ.update(launch.environment)
    command = [sys.executable, "-m", "webapp.model_server", *launch.arguments]
    os.execv(sys.executable, command)


if __name__ == "__main__":
    main()
