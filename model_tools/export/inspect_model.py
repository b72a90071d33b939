"""``inspect``: what a model file offers, without running it.

For a SavedModel folder: tag-sets, signatures with their inputs/outputs (dtype, shape, tensor name) and
method names, as ``saved_model_cli show --all`` prints them, plus assets, warmup records and the ONNX
file beside it. For an ONNX file: IR/opset, inputs/outputs, operator counts, parameters, metadata.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from emnist_contract.layout import LABELS_FILE, ONNX_FILE, WARMUP_FILE


def _shape_text(shape: list[int] | None) -> str:
    if shape is None:
        return "unknown_rank"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def summarize_saved_model(version_dir: str | Path) -> dict[str, Any]:
    """Signatures and the files TF Serving reads, as a JSON-ready dict."""
    from model_tools.export.signatures import describe_signatures
    from model_tools.export.warmup_writer import read_warmup_requests

    version_dir = Path(version_dir)
    summary: dict[str, Any] = {"path": str(version_dir), "meta_graphs": describe_signatures(version_dir)}
    labels_path = version_dir / LABELS_FILE
    summary["labels"] = labels_path.read_text().splitlines() if labels_path.is_file() else None
    warmup_path = version_dir / WARMUP_FILE
    if warmup_path.is_file():
        summary["warmup_requests"] = [
            f"{record.WhichOneof('log_type')} {_request_signature(record)}"
            for record in read_warmup_requests(version_dir)
        ]
    else:
        summary["warmup_requests"] = None
    onnx_path = version_dir / ONNX_FILE
    summary["onnx"] = summarize_onnx(onnx_path) if onnx_path.is_file() else None
    summary["size_bytes"] = sum(p.stat().st_size for p in version_dir.rglob("*") if p.is_file())
    return summary


def _request_signature(record: Any) -> str:
    kind = record.WhichOneof("log_type")
    request = getattr(record, kind).request
    spec = request.model_spec.signature_name
    if kind == "predict_log":
        shapes = {key: [d.size for d in tensor.tensor_shape.dim] for key, tensor in request.inputs.items()}
        return f"signature={spec} inputs={shapes}"
    if kind == "classify_log":
        return f"signature={spec} examples={len(request.input.example_list.examples)}"
    return f"signature={spec}"


def summarize_onnx(path: str | Path) -> dict[str, Any]:
    """Graph summary of an ONNX file."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError and friends
        raise ValueError(f"{path} is not a readable ONNX model: {exc}") from exc
    graph = model.graph
    initializers = {init.name for init in graph.initializer}

    def value(v: onnx.ValueInfoProto) -> dict[str, Any]:
        tensor = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
        return {"name": v.name, "dtype": onnx.TensorProto.DataType.Name(tensor.elem_type), "shape": dims}

    params = 0
    for init in graph.initializer:
        count = 1
        for dim in init.dims:
            count *= dim
        params += count
    return {
        "path": str(path),
        "ir_version": model.ir_version,
        "opsets": {op.domain or "ai.onnx": op.version for op in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [value(v) for v in graph.input if v.name not in initializers],
        "outputs": [value(v) for v in graph.output],
        "nodes": len(graph.node),
        "op_counts": dict(sorted(Counter(node.op_type for node in graph.node).items())),
        "parameters": params,
        "initializers_listed_as_inputs": sum(1 for v in graph.input if v.name in initializers),
        "metadata": {prop.key: prop.value for prop in model.metadata_props},
    }


def format_saved_model(summary: dict[str, Any]) -> str:
    """The summary as ``saved_model_cli show --all`` prints it, so the two can be compared line by line."""
    lines: list[str] = []
    for tags, signatures in summary["meta_graphs"].items():
        lines.append(f"MetaGraphDef with tag-set: '{tags}' contains the following SignatureDefs:")
        for name, signature in signatures.items():
            lines.append("")
            lines.append(f"signature_def['{name}']:")
            for side, word in (("inputs", "input(s)"), ("outputs", "output(s)")):
                lines.append(f"  The given SavedModel SignatureDef contains the following {word}:")
                for key, info in signature[side].items():
                    lines.append(f"    {side}['{key}'] tensor_info:")
                    lines.append(f"        dtype: {info['dtype']}")
                    lines.append(f"        shape: {_shape_text(info['shape'])}")
                    lines.append(f"        name: {info['name']}")
            lines.append(f"  Method name is: {signature['method_name']}")
    lines.append("")
    labels = summary["labels"]
    labels_name, warmup_name = LABELS_FILE.as_posix(), WARMUP_FILE.as_posix()
    lines.append(f"{labels_name}: {len(labels)} labels ({''.join(labels)})" if labels is not None
                 else f"{labels_name}: missing")
    warmup = summary["warmup_requests"]
    if warmup is None:
        lines.append(f"{warmup_name}: missing")
    else:
        lines.append(f"{warmup_name}: {len(warmup)} records")
        lines += [f"  {record}" for record in warmup]
    lines.append(f"size on disk: {summary['size_bytes'] / 1e6:.2f} MB")
    if summary["onnx"] is not None:
        lines += ["", f"{ONNX_FILE}:", format_onnx(summary["onnx"], indent="  ")]
    return "\n".join(lines)


def format_onnx(summary: dict[str, Any], indent: str = "") -> str:
    """An ONNX summary as text (indented when it describes the model.onnx inside a version)."""
    lines = [
        f"ONNX {summary['path']}: IR {summary['ir_version']}, opsets {summary['opsets']}, "
        f"producer {summary['producer'] or '?'}",
    ]
    for side in ("inputs", "outputs"):
        for v in summary[side]:
            lines.append(f"{side[:-1]} {v['name']}: {v['dtype']} {v['shape']}")
    ops = ", ".join(f"{op} x{count}" for op, count in summary["op_counts"].items())
    lines.append(f"{summary['nodes']} nodes: {ops}")
    lines.append(f"parameters: {summary['parameters']:,}")
    if summary["initializers_listed_as_inputs"]:
        lines.append(f"initializers listed as graph inputs: {summary['initializers_listed_as_inputs']}")
    for key, val in summary["metadata"].items():
        shown = val if len(val) <= 100 else val[:97] + "..."
        lines.append(f"metadata {key}: {shown}")
    return "\n".join(indent + line for line in lines)


def _inspect_command(args: argparse.Namespace) -> int:
    target = Path(args.target)
    if target.is_dir():
        summary = summarize_saved_model(target)
        text = format_saved_model(summary)
    elif target.is_file() and target.suffix == ".onnx":
        summary = summarize_onnx(target)
        text = format_onnx(summary)
    elif not target.exists():
        raise FileNotFoundError(f"{target} does not exist")
    else:
        raise ValueError(f"{target}: expected a SavedModel folder or an .onnx file")
    print(json.dumps(summary, indent=2) if args.json else text)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect", help="signatures of a SavedModel folder, or a graph summary of an .onnx file",
        description="Like `saved_model_cli show --all` for SavedModels (tags, signatures, dtypes, shapes, "
                    "method names, assets, warmup records); opset, IO, op counts, parameters and metadata "
                    "for ONNX files.")
    parser.add_argument("target", help="models/<name>/<version> folder or model.onnx file")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=_inspect_command)
