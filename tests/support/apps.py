"""Building the app for tests: the repo's models, the light onnxruntime engine, no polling, no SIGHUP."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.support.paths import MODELS, SERVED_MODEL


def app_config(**overrides: Any) -> dict[str, Any]:
    """Test settings: the repo's models, the light onnxruntime engine, no background polling, no SIGHUP."""
    config = {
        "TESTING": True,
        "MODEL_BASE_PATH": str(MODELS),
        "MODEL_NAME": SERVED_MODEL,
        "ENGINE": "onnxruntime",
        "FILE_SYSTEM_POLL_SECONDS": 0,
        "MODEL_RELOAD_ON_SIGHUP": False,
        "MODEL_SETTLE_SECONDS": 0,  # test versions are written just before they load
    }
    config.update(overrides)
    return config


def build_app(**overrides: Any) -> Flask:
    from webapp import create_app

    return create_app(app_config(**overrides))


def stop_app(application: Flask) -> None:
    core = application.extensions["serving_core"]
    if core is not None:
        core.stop()
    else:  # a front end to remote model servers
        application.extensions["inference_service"].close()
