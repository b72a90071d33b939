"""``import-onnx``: any ONNX 784 -> 62 classifier brought to the contract's interface, the file untouched.

Every ONNX file that reaches conversion goes through :func:`import_onnx_classifier`: old opsets are
upgraded, the batch made symbolic, input and output renamed, a Softmax appended to a logits model, and
the result compared with the original graph (onnx's reference evaluator, which runs every opset) on
real images. Anything that cannot be served this way is refused with the reason.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
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

#: Foreign models older than this are upgraded to it (the oldest opset with today's Softmax semantics).
MIN_OPSET = 13


@dataclass
class ImportedModel:
    """A foreign ONNX classifier brought to our contract, and what was done to it."""

    model: onnx.ModelProto
    source: Path
    source_sha256: str
    original_input: str
    original_output: str
    original_opset: int
    changes: list[str]
    parity: Parity | None

    @property
    def metadata(self) -> dict[str, str]:
        return read_metadata(self.model)


def _tensor_shape(value: onnx.ValueInfoProto) -> list[int | str | None]:
    shape = value.type.tensor_type.shape
    if not value.type.tensor_type.HasField("shape"):
        return []
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in shape.dim]


def import_onnx_classifier(path: str | Path, *, check_images: np.ndarray | None = None) -> ImportedModel:
    """Load any ONNX 784 -> 62 classifier and normalize it to our contract, without touching the file.

    Upgrades the opset (onnx.version_converter), fixes the IR version, drops initializers listed as
    graph inputs, makes the batch dimension symbolic, renames input/output to ``images``/``scores``,
    appends a Softmax if the model returns logits, and records the original names in metadata.
    When anything changed, the result is checked against the original graph (onnx's reference
    evaluator, which runs every opset) on ``check_images``.
    Raises :class:`ModelRefusedError` with the reason when the model cannot be served.
    """
    import onnx
    from onnx import helper, version_converter

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    source_sha = file_sha256(path)
    try:
        original = onnx.load(str(path))
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise ModelRefusedError(f"{path} is not a readable ONNX model: {exc}") from exc
    if original.graph.node and any(
        init.data_location == onnx.TensorProto.EXTERNAL for init in original.graph.initializer
    ):
        raise ModelRefusedError(f"{path}: weights stored as external data are not supported")
    model = onnx.ModelProto()
    model.CopyFrom(original)
    graph = model.graph
    changes: list[str] = []

    initializer_names = {init.name for init in graph.initializer}
    real_inputs = [value for value in graph.input if value.name not in initializer_names]
    if len(real_inputs) != 1 or len(graph.output) != 1:
        raise ModelRefusedError(
            f"{path}: expected one input and one output, found inputs "
            f"{[v.name for v in real_inputs]} and outputs {[v.name for v in graph.output]}"
        )
    in_value, out_value = real_inputs[0], graph.output[0]
    original_input, original_output = in_value.name, out_value.name
    for role, value, width in (("input", in_value, NUM_PIXELS), ("output", out_value, NUM_CLASSES)):
        if value.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            raise ModelRefusedError(f"{path}: {role} {value.name!r} is not float32; this is not a 784 -> 62 "
                                    "classifier")
        shape = _tensor_shape(value)
        if len(shape) != 2 or shape[1] != width:
            raise ModelRefusedError(
                f"{path}: {role} {value.name!r} has shape {shape}; a 784 -> 62 classifier takes "
                f"[N, {NUM_PIXELS}] and returns [N, {NUM_CLASSES}]"
            )

    default_domain = [op for op in model.opset_import if op.domain in ("", "ai.onnx")]
    if not default_domain:
        raise ModelRefusedError(f"{path}: no ai.onnx opset import")
    original_opset = int(default_domain[0].version)
    if original_opset < MIN_OPSET:
        try:
            model = version_converter.convert_version(model, MIN_OPSET)
        except Exception as exc:
            raise ModelRefusedError(
                f"{path}: cannot upgrade opset {original_opset} to {MIN_OPSET}: {exc}") from exc
        changes.append(f"upgraded opset {original_opset} -> {MIN_OPSET}")
        graph = model.graph
    # IR < 4 required initializers to be listed as inputs; today they would be overridable inputs.
    if len(graph.input) != 1:
        kept = [value for value in graph.input if value.name not in initializer_names]
        del graph.input[:]
        graph.input.extend(kept)
        changes.append("dropped initializers from graph inputs")
    in_value, out_value = graph.input[0], graph.output[0]
    needed_ir = helper.find_min_ir_version_for(list(model.opset_import))
    if model.ir_version < needed_ir:
        changes.append(f"IR version {model.ir_version} -> {needed_ir}")
        model.ir_version = needed_ir

    fixed_batch = [v.type.tensor_type.shape.dim[0] for v in (in_value, out_value)
                   if v.type.tensor_type.shape.dim[0].HasField("dim_value")]
    for dim in (in_value.type.tensor_type.shape.dim[0], out_value.type.tensor_type.shape.dim[0]):
        dim.dim_param = BATCH_DIM  # clears a fixed dim_value (oneof)
    if fixed_batch:
        # Intermediate shapes recorded for batch 1 would contradict a symbolic batch.
        del graph.value_info[:]
        changes.append("made the batch dimension symbolic")

    if original_input != INPUT_KEY or original_output != SCORES_KEY:
        _rename_value(graph, original_input, INPUT_KEY)
        _rename_value(graph, original_output, SCORES_KEY)
        changes.append(f"renamed {original_input!r} -> {INPUT_KEY!r}, "
                       f"{original_output!r} -> {SCORES_KEY!r}")

    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise ModelRefusedError(f"{path}: the normalized model is not valid ONNX: {exc}") from exc

    probe = np.random.default_rng(0).random((3, NUM_PIXELS), dtype=np.float32)
    try:
        probe_scores = onnxruntime_scores(model, probe)
    except Exception as exc:
        raise ModelRefusedError(
            f"{path}: the model does not run with a batch of 3 in onnxruntime (a graph that hard-codes "
            f"batch size 1 cannot be served with a dynamic batch): {exc}") from exc
    if probe_scores.shape != (3, NUM_CLASSES):
        raise ModelRefusedError(f"{path}: a batch of 3 images gave scores of shape {probe_scores.shape}")
    if not _are_probabilities(probe_scores):
        _append_softmax(model)
        changes.append("appended Softmax (the model returned logits)")
        onnx.checker.check_model(model, full_check=True)

    existing = read_metadata(original)
    if "labels" in existing and existing["labels"] != json.dumps(list(BYCLASS_LABELS)):
        raise ModelRefusedError(f"{path}: its metadata 'labels' are not the 62 ByClass labels in order")
    set_metadata(model, {"labels": list(BYCLASS_LABELS),
                         "preprocessing": existing.get("preprocessing", PREPROCESSING)})
    if changes:  # a foreign model: say where it came from and what was done (ours keep their provenance)
        set_metadata(model, {
            "source": "imported ONNX",
            "source_file": path.name,
            "source_sha256": source_sha,
            "original_input_name": original_input,
            "original_output_name": original_output,
            "original_opset": str(original_opset),
            "original_ir_version": str(original.ir_version),
            "import_changes": changes,
        })

    parity = None
    # An unchanged graph needs no comparison with itself (and the reference evaluator is slow on Conv).
    if check_images is not None and len(check_images) and changes:
        parity = _parity_with_original(original, original_input, model, check_images, changes)
        set_metadata(model, {"parity_vs_original_max_abs_diff": f"{parity.max_abs_diff:.3g}"})
        if not parity.ok:
            raise ModelRefusedError(f"{path}: the normalized model differs from the original: "
                                    f"{parity.describe()}")
    if file_sha256(path) != source_sha:  # defensive: nothing above may write to the user's file
        raise RuntimeError(f"{path} changed while it was imported")
    return ImportedModel(model, path, source_sha, original_input, original_output, original_opset, changes,
                         parity)


def _rename_value(graph: onnx.GraphProto, old: str, new: str) -> None:
    if old == new:
        return
    taken = {v.name for v in (*graph.input, *graph.output, *graph.initializer, *graph.value_info)}
    taken |= {out for node in graph.node for out in node.output}
    if new in taken:
        raise ModelRefusedError(f"cannot rename {old!r} to {new!r}: the graph already has a tensor {new!r}")
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.name == old:
            value.name = new
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new


def _are_probabilities(scores: np.ndarray) -> bool:
    return bool(np.all(scores >= -1e-6) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4))


def _append_softmax(model: onnx.ModelProto) -> None:
    from onnx import helper

    logits = "logits_before_softmax"
    for node in model.graph.node:
        for i, name in enumerate(node.output):
            if name == SCORES_KEY:
                node.output[i] = logits
    model.graph.node.append(helper.make_node("Softmax", [logits], [SCORES_KEY], axis=-1,
                                             name="appended_softmax"))


def _parity_with_original(original: onnx.ModelProto, original_input: str, normalized: onnx.ModelProto,
                          images: np.ndarray, changes: list[str]) -> Parity:
    """The original file may use operators onnxruntime no longer runs (Gemm-6): evaluate it with onnx's
    reference implementation, which knows every opset, and compare with onnxruntime on the new model."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(original)
    fixed_one = _tensor_shape([v for v in original.graph.input if v.name == original_input][0])[0] == 1
    step = 1 if fixed_one else 256
    reference = np.concatenate([
        np.asarray(evaluator.run(None, {original_input: images[i:i + step]})[0], dtype=np.float32)
        for i in range(0, len(images), step)
    ])
    if "appended Softmax (the model returned logits)" in changes:
        shifted = np.exp(reference - reference.max(axis=1, keepdims=True))
        reference = shifted / shifted.sum(axis=1, keepdims=True)
    return compare_scores(reference, onnxruntime_scores(normalized, images),
                          reference_name="original ONNX (reference evaluator)",
                          candidate_name="normalized ONNX (onnxruntime)")


def _import_command(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out} already exists; choose another --out or pass --overwrite")
    if out.resolve() == Path(args.model).resolve():
        raise ValueError("--out must differ from the input: the user's file is never modified")
    images, _ = validation_inputs(args.limit)
    imported = import_onnx_classifier(args.model, check_images=images)
    save_atomically(imported.model, out)
    print(f"wrote {out}: {imported.original_input!r} -> {INPUT_KEY!r}, {imported.original_output!r} -> "
          f"{SCORES_KEY!r}, opset {imported.original_opset} -> "
          f"{[op.version for op in imported.model.opset_import if op.domain in ('', 'ai.onnx')][0]}")
    for change in imported.changes:
        print(f"  - {change}")
    if imported.parity:
        print(imported.parity.describe())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    imp = subparsers.add_parser(
        "import-onnx", help="normalize a foreign ONNX 784->62 classifier to our contract (file untouched)",
        description="Upgrade the opset, make the batch symbolic, rename input/output to images/scores, "
                    "and write the result to --out; the input file is never modified.")
    imp.add_argument("model", help="ONNX file of a 784 -> 62 classifier")
    imp.add_argument("--out", required=True, help="normalized ONNX file to write")
    imp.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    imp.add_argument("--limit", type=int, default=2000, help="images for the parity check (default 2000)")
    imp.set_defaults(func=_import_command)
