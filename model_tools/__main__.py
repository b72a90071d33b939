"""``python -m model_tools <command>`` (or ``emnist-tools <command>``): one command line for every stage.

Output is for people: progress as plain lines, an error as one line ``<prog>: error: <message>`` on
stderr with exit code 2 (1 when ``predict`` could not read some of its files, 130 when interrupted), and
TensorFlow's start-up and C++ logging hidden unless ``--verbose`` (which also adds timestamps and debug
lines). The default folders (data, models, reports) are the ones beside the package, whatever the cwd.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from model_tools.common.quiet_tensorflow import quiet_tensorflow
from serving_core.errors import ServingError

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
    "model_tools.training.class_offsets",
    "model_tools.training.logit_adjustment",
    "model_tools.training.temperature_scaling",
    "model_tools.export.model_forms",  # evaluate: checkpoints, ONNX files and SavedModels
    "model_tools.export.eval_report",
    "model_tools.training.plots",
    "model_tools.export.onnx_export",
    "model_tools.export.onnx_import",
    "model_tools.export.convert",
    "model_tools.export.verify",
    "model_tools.export.inspect_model",
    "model_tools.export.pipeline",
    "model_tools.export.model_info",
    "model_tools.client.predict",
    "model_tools.client.eval_serving",
    "model_tools.client.throughput",
)


def program_name() -> str:
    """How the user called us: ``emnist-tools`` (the console script) or ``python -m model_tools``."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return invoked if invoked and not invoked.endswith((".py", "__main__")) and invoked != "-c" else (
        "python -m model_tools")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The parser with every stage's sub-commands; ``-v/--verbose`` also works after the command."""
    parser = argparse.ArgumentParser(
        prog=prog or program_name(),
        description="EMNIST ByClass: data exploration, training, ONNX/SavedModel translation, evaluation, "
                    "reading images with a model version.",
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging with timestamps, and TensorFlow's own log lines")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for command in subparsers.choices.values():
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="debug logging with timestamps, and TensorFlow's own log lines")
    return parser


class PlainFormatter(logging.Formatter):
    """Progress as the bare message; warnings and errors as ``<prog>: warning|error: <message>``."""

    def __init__(self, prog: str) -> None:
        super().__init__("%(message)s")
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.ERROR:
            return f"{self.prog}: error: {message}"
        if record.levelno >= logging.WARNING:
            return f"{self.prog}: warning: {message}"
        return message


def configure_output(verbose: bool, prog: str) -> None:
    """Plain progress lines, or debug lines with timestamps; TensorFlow quiet unless verbose."""
    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return
    quiet_tensorflow()
    handler = logging.StreamHandler()
    handler.setFormatter(PlainFormatter(prog))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code, or 2 with one plain error line for a user error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.prog = parser.prog  # commands name themselves in their messages as the user called them
    configure_output(args.verbose, parser.prog)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader went away (``... | head``): stop quietly, as Unix tools do.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush silent
        return 141
    except (ValueError, OSError, RuntimeError, ServingError) as exc:
        if args.verbose:
            logging.getLogger("model_tools").exception("%s failed", args.command)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
