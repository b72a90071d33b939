"""``pipeline``: one command from a training run (or checkpoint) to a new verified version in ``models/``.

checkpoint -> ONNX (checked against PyTorch) -> SavedModel (onnx2tf) -> verified against both ONNX and
the checkpoint -> renamed into ``models/<name>/<version>/``, with the run's model info (its classes
without training images and its class prior, from ``metrics.json``). ``--prior`` first moves the run's
class prior to the mix a deployment serves (``logit-adjust``, into the temporary folder: the run stays
as it is); ``--temperature`` then calibrates its scores (``calibrate``, likewise). Nothing is left behind
if a step fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import tempfile
from pathlib import Path

from emnist_contract.layout import ONNX_FILE
from model_tools.common.paths import MODELS_DIR
from model_tools.training.logit_adjustment import add_prior_options
from model_tools.training.temperature_scaling import add_temperature_option, parse_temperature

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
                 limit: int | None = None, prior: str | None = None, tau: float | None = None,
                 tau_rule: str = "best", calibrate: bool = False, temperature: float | None = None) -> Path:
    """Export, convert and verify; returns the new version folder (with the run's model info).

    ``prior`` (and ``tau``, else chosen on validation by ``tau_rule``): serve the run's model
    logit-adjusted to that class mix (:func:`~model_tools.training.logit_adjustment.adjust_run`).
    ``calibrate``: then divide its logits by ``temperature``, or by the one chosen on validation when None
    (:func:`~model_tools.training.temperature_scaling.calibrate_run`)."""
    from model_tools.export.convert import convert_onnx
    from model_tools.export.model_info import resolve_model_info
    from model_tools.export.onnx_export import export_checkpoint
    from model_tools.training.logit_adjustment import adjust_run
    from model_tools.training.temperature_scaling import calibrate_run

    checkpoint = resolve_checkpoint(source)
    if prior is None and tau is not None:
        raise ValueError("--tau needs --prior")
    if not calibrate and temperature is not None:
        raise ValueError("a temperature is only used when calibrating")
    with tempfile.TemporaryDirectory(prefix="pipeline-") as work:
        derived = []
        if prior is not None:
            adjusted = Path(work) / "adjusted"
            metrics = adjust_run(checkpoint.parent, adjusted, prior, tau, tau_rule=tau_rule)
            log.info("logit adjustment: prior %s, tau %g", prior, metrics["logit_adjustment"]["tau"])
            checkpoint = adjusted / CHECKPOINT_FILE
            derived.append(f"logit-adjusted to the {prior} prior")
        if calibrate:
            calibrated = Path(work) / "calibrated"
            metrics = calibrate_run(checkpoint.parent, calibrated, temperature)
            chosen = metrics["temperature_scaling"]["temperature"]
            log.info("temperature scaling: T %g", chosen)
            checkpoint = calibrated / CHECKPOINT_FILE
            derived.append(f"temperature-scaled (T {chosen:g})")
        info = resolve_model_info(None, checkpoint)
        if derived and info is not None:  # provenance: the run, not the temporary folder
            info = dataclasses.replace(info, source=", ".join([resolve_model_info(None, source).source,
                                                               *derived]))
        onnx_path = Path(work) / ONNX_FILE
        report = export_checkpoint(checkpoint, onnx_path, limit=limit)
        log.info("ONNX export: %s", report.parity.describe())
        return convert_onnx(onnx_path, name, version=version, base=base, checkpoint_path=checkpoint,
                            limit=limit, model_info=info)


def _pipeline_command(args: argparse.Namespace) -> int:
    calibrate, temperature = parse_temperature(args.temperature)
    final_dir = run_pipeline(args.source, args.name, version=args.version, base=args.base, limit=args.limit,
                             prior=args.prior, tau=args.tau, tau_rule=args.tau_rule, calibrate=calibrate,
                             temperature=temperature)
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
    add_prior_options(parser, required=False)
    add_temperature_option(parser)
    parser.set_defaults(func=_pipeline_command)
