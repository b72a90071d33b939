"""``export-onnx``: a training checkpoint as an ONNX file with the contract's interface, checked on PyTorch.

The network is wrapped in softmax and exported with torch's dynamo exporter (a symbolic batch, the
contract's tensor names), checked with ``onnx.checker`` and run in onnxruntime on the real validation
images: the file appears only if it matches PyTorch there (:mod:`model_tools.export.parity`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from emnist_contract.layout import ONNX_FILE
from emnist_contract.signatures import INPUT_KEY, SCORES_KEY
from emnist_contract.tensors import NUM_PIXELS
from model_tools.common.hashing import file_sha256
from model_tools.data.datasets import validation_inputs
from model_tools.export.onnx_model import (
    BATCH_DIM,
    PREPROCESSING,
    ModelRefusedError,
    onnxruntime_scores,
    read_metadata,
    save_atomically,
    set_metadata,
)
from model_tools.export.parity import Parity, compare_scores

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

#: Opset of our own exports (torch's dynamo exporter implements 18 and newer).
EXPORT_OPSET = 18


@dataclass
class ExportReport:
    """What an export wrote and how close it is to PyTorch."""

    path: Path
    opset: int
    parity: Parity
    validation_accuracy: float
    metadata: dict[str, str] = field(default_factory=dict)


def export_checkpoint(checkpoint_path: str | Path, out_path: str | Path, *, overwrite: bool = False,
                      limit: int | None = None) -> ExportReport:
    """Export a training checkpoint to ONNX (softmax scores, dynamic batch), proven against PyTorch.

    The file appears only if the ONNX model matches PyTorch on the real validation images
    (max |diff| <= 1e-5, identical argmax); otherwise nothing is written.
    """
    import onnx
    import torch

    from model_tools.training.checkpoint import load_checkpoint
    from model_tools.training.networks import WithSoftmax, softmax_scores

    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise ValueError(f"{out_path} already exists; choose another --out or pass --overwrite")
    checkpoint = load_checkpoint(checkpoint_path)
    if tuple(checkpoint.labels) != BYCLASS_LABELS:
        raise ModelRefusedError(f"{checkpoint_path}: labels are not the 62 EMNIST ByClass labels in order")
    wrapped = WithSoftmax(checkpoint.model).eval()
    example = torch.zeros(2, NUM_PIXELS, dtype=torch.float32)
    with tempfile.TemporaryDirectory(prefix="export-onnx-") as work:
        raw_path = Path(work) / ONNX_FILE
        # The dynamo exporter (torch.export) gives clean graphs (constants as initializers, batch norm
        # folded) that onnx2tf converts; the legacy TorchScript exporter's Reshape+Conv graphs it does not.
        with _quiet_torch_export():
            torch.onnx.export(
                wrapped, (example,), str(raw_path), input_names=[INPUT_KEY], output_names=[SCORES_KEY],
                opset_version=EXPORT_OPSET, dynamo=True, external_data=False, verbose=False,
                dynamic_shapes={"x": {0: torch.export.Dim(BATCH_DIM)}},
            )
        model = onnx.load(str(raw_path))
    _rename_batch_dims(model)
    images, labels = validation_inputs(limit)
    torch_scores = softmax_scores(checkpoint.model, images)
    onnx_scores = onnxruntime_scores(model, images)
    parity = compare_scores(torch_scores, onnx_scores, reference_name="PyTorch", candidate_name="ONNX")
    if not parity.ok:
        raise RuntimeError(f"export refused, the ONNX model does not match PyTorch: {parity.describe()}")
    accuracy = float(np.mean(onnx_scores.argmax(axis=1) == labels))
    metadata = {
        "labels": list(BYCLASS_LABELS),
        "preprocessing": PREPROCESSING,
        "input": f"{INPUT_KEY} float32 [N, {NUM_PIXELS}]",
        "output": f"{SCORES_KEY} float32 [N, {NUM_CLASSES}] softmax probabilities",
        "source": "checkpoint",
        # as given when relative (runs/cnn/checkpoint.pt says which run), else just the file name
        "source_checkpoint": (Path(checkpoint_path).as_posix() if not Path(checkpoint_path).is_absolute()
                              else Path(checkpoint_path).name),
        "source_checkpoint_sha256": file_sha256(checkpoint_path),
        "arch": checkpoint.arch,
        "validation_accuracy": f"{accuracy:.6f}",
        "validation_images": str(len(labels)),
        "parity_vs_pytorch_max_abs_diff": f"{parity.max_abs_diff:.3g}",
    }
    set_metadata(model, metadata)
    model.doc_string = (f"EMNIST ByClass {checkpoint.arch} classifier exported from "
                        f"{Path(checkpoint_path).name}")
    model.producer_name = __name__
    onnx.checker.check_model(model, full_check=True)
    save_atomically(model, out_path)
    log.info("exported %s: %s; validation accuracy %.4f", out_path, parity.describe(), accuracy)
    return ExportReport(out_path, EXPORT_OPSET, parity, accuracy, read_metadata(model))


@contextlib.contextmanager
def _quiet_torch_export() -> Iterator[None]:
    """torch's exporter prints progress lines to stdout; keep a CLI's output to its report."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore", FutureWarning)  # torch.export's own deprecations, not ours
        for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "onnx_ir"):
            logger = logging.getLogger(name)
            stack.callback(logger.setLevel, logger.level)
            logger.setLevel(logging.ERROR)
        yield


def _rename_batch_dims(model: onnx.ModelProto) -> None:
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = BATCH_DIM


def _export_command(args: argparse.Namespace) -> int:
    report = export_checkpoint(args.checkpoint, args.out, overwrite=args.overwrite, limit=args.limit)
    print(f"wrote {report.path} (opset {report.opset}, dynamic batch)")
    print(report.parity.describe())
    print(f"validation accuracy (ONNX, onnxruntime): {report.validation_accuracy:.4f} "
          f"on {report.parity.images} images")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "export-onnx", help="export a training checkpoint to ONNX (dynamic batch), checked against PyTorch",
        description="Export a checkpoint to ONNX: input images float32 [N,784], output scores float32 "
                    "[N,62]. Fails, writing nothing, unless ONNX matches PyTorch on the validation images.")
    export.add_argument("checkpoint", help="checkpoint file (.pt) written by training")
    export.add_argument("--out", required=True, help="ONNX file to write")
    export.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    export.add_argument("--limit", type=int, default=None, help="check parity on the first N images only")
    export.set_defaults(func=_export_command)
