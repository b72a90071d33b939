"""``pipeline``: one command from a training run (or checkpoint) to a new verified version in ``models/``.

checkpoint -> ONNX (checked against PyTorch) -> SavedModel (onnx2tf) -> verified against both ONNX and
the checkpoint -> renamed into ``models/<name>/<version>/``, with the run's model info (its classes
without training images, from ``metrics.json``). Nothing is left behind if a step fails.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from emnist_contract.layout import ONNX_FILE
from model_tools.common.paths import MODELS_DIR

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"


def resolve_checkpoint(source: str | Path) -> Path:
    """A checkpoint file, or the ``checkpoint.pt`` of a run folder."""
    source = Path(source)
    if source.is_dir():
        candidate = source / CHECKPOINT_FILE
        if not candidate.is_file():
            raise FileNotFoundError(f"{source} is a folder without {CHECKPOINT_FILE}: not a training run")
        return candidate
    if not source.is_file():
        raise FileNotFoundError(f"no run folder or checkpoint at {source}")
    return source


def run_pipeline(source: str | Path, name: str, *, version: int | None = None, base: str | Path = MODELS_DIR,
                 limit: int | None = None) -> Path:
    """Export, convert and verify; returns the new version folder (with the run's model info)."""
    from model_tools.export.convert import convert_onnx
    from model_tools.export.model_info import resolve_model_info
    from model_tools.export.onnx_export import export_checkpoint

    checkpoint = resolve_checkpoint(source)
    info = resolve_model_info(None, checkpoint)
    with tempfile.TemporaryDirectory(prefix="pipeline-") as work:
        onnx_path = Path(work) / ONNX_FILE
        report = export_checkpoint(checkpoint, onnx_path, limit=limit)
        log.info("ONNX export: %s", report.parity.describe())
        return convert_onnx(onnx_path, name, version=version, base=base, checkpoint_path=checkpoint,
                            limit=limit, model_info=info)


def _pipeline_command(args: argparse.Namespace) -> int:
    final_dir = run_pipeline(args.source, args.name, version=args.version, base=args.base, limit=args.limit)
    print(f"wrote {final_dir}: exported, converted and verified against ONNX and the checkpoint")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pipeline", help="training run or checkpoint -> ONNX -> verified SavedModel version in models/",
        description="export-onnx, convert and verify in one command; the new version appears only when "
                    "every parity check holds.")
    parser.add_argument("source", help="run folder (with checkpoint.pt) or checkpoint file")
    parser.add_argument("--name", required=True, help="model name: the folder under --base")
    parser.add_argument("--version", type=int, default=None, help="version number (default: next integer)")
    parser.add_argument("--base", default=str(MODELS_DIR),
                        help="model base path (default: the project's models/, whatever the cwd)")
    parser.add_argument("--limit", type=int, default=None, help="check on the first N validation images")
    parser.set_defaults(func=_pipeline_command)
