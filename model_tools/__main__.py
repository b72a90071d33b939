"""``python -m model_tools <command>``: one command line for every stage of the pipeline."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# Each module registers its own sub-command(s) through ``register(subparsers)``; the command's
# function receives the parsed arguments and returns an exit code. The modules import TensorFlow,
# torch and onnx2tf inside their command functions, so ``--help`` stays fast. The order is the order
# of ``--help``: the pipeline's stages, data -> training -> export -> client.
COMMAND_MODULES: tuple[str, ...] = (
    "model_tools.data.build_data",
    "model_tools.data.download",
    "model_tools.data.explore",
    "model_tools.data.render_synthetic",
    "model_tools.training.train_command",
    "model_tools.export.model_forms",  # evaluate: checkpoints, ONNX files and SavedModels
    "model_tools.training.plots",
    "model_tools.export.onnx_export",
    "model_tools.export.onnx_import",
    "model_tools.export.convert",
    "model_tools.export.verify",
    "model_tools.export.inspect_model",
    "model_tools.export.pipeline",
    "model_tools.client.eval_serving",
    "model_tools.client.throughput",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m model_tools`` parser with every stage's sub-commands."""
    parser = argparse.ArgumentParser(
        prog="python -m model_tools",
        description="EMNIST ByClass: data exploration, training, ONNX/SavedModel translation, evaluation.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit code 2 for a clear user error (bad file, bad option value)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        logging.getLogger("model_tools").error("%s", exc)
        return 2
    except BrokenPipeError:
        # The reader went away (``... | head``): stop quietly, as Unix tools do.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush silent
        return 141


if __name__ == "__main__":
    sys.exit(main())
