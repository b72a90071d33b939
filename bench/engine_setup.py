"""Command-line options and environment shared by the in-process bench scripts (cold start, compute floor).

Both open the app exactly as a gunicorn worker would: ``create_app()`` configured through the same
``EMNIST_*`` variables, with the engine and model named on the command line and no file-system polling.
Only the standard library is imported here, so the cold-start clock measures the app's imports alone.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def engine_parser(description: str | None) -> argparse.ArgumentParser:
    """--engine, --model-name and --model-base-path (the scripts add their own options)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--engine", required=True, choices=("tensorflow", "onnxruntime"))
    parser.add_argument("--model-name", default="reference")
    parser.add_argument("--model-base-path", default=str(REPO / "models"))
    return parser


def configure_app(args: argparse.Namespace) -> None:
    """Point ``create_app()`` at the chosen engine and model."""
    os.environ.update(
        EMNIST_ENGINE=args.engine,
        EMNIST_MODEL_NAME=args.model_name,
        EMNIST_MODEL_BASE_PATH=args.model_base_path,
        EMNIST_FILE_SYSTEM_POLL_SECONDS="0",
    )
