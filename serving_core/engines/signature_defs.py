"""Read a SavedModel's SignatureDefs from ``saved_model.pb`` without importing TensorFlow.

The onnxruntime engine must answer TF Serving's metadata request (which prints the SavedModel's
``signature_def`` map) without importing TensorFlow. ``saved_model.pb`` is parsed with TensorFlow's own
``SavedModel`` message from ``tf_serving_protos`` and the signatures are copied into TF Serving's
``SignatureDefMap``, the message its metadata answer carries. The JSON form follows TF Serving's printer
(preserve_proto_field_name, always_print_primitive_fields).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict

from tf_serving_protos.tensorflow.core.protobuf import saved_model_pb2
from tf_serving_protos.tensorflow_serving.apis import get_model_metadata_pb2


def sorted_signature_maps(signature_map: dict[str, Any]) -> dict[str, Any]:
    """Signatures, and each one's inputs and outputs, by name: protobuf iterates a map in no fixed order,
    and the metadata answer should be the same bytes from every process and through a front end."""

    def by_key(mapping: dict[str, Any]) -> dict[str, Any]:
        return dict(sorted(mapping.items()))

    signatures = {
        name: {key: by_key(value) if key in ("inputs", "outputs") else value
               for key, value in definition.items()}
        for name, definition in by_key(signature_map.get("signature_def", {})).items()
    }
    return {**signature_map, "signature_def": signatures}


def read_signature_defs(version_dir: Path, tag: str = "serve") -> dict[str, Any]:
    """``{"signature_def": {name: SignatureDef as JSON}}`` of the MetaGraph tagged ``tag``."""
    path = Path(version_dir) / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from exc
    except Exception as exc:  # protobuf's DecodeError
        raise ValueError(f"{path}: not a SavedModel protobuf: {exc}") from exc
    for meta_graph in saved_model.meta_graphs:
        if tag in meta_graph.meta_info_def.tags:
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            for name, signature in meta_graph.signature_def.items():
                signature_map.signature_def[name].CopyFrom(signature)
            return sorted_signature_maps(MessageToDict(
                signature_map,
                preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True,
            ))
    raise ValueError(f"{path}: no MetaGraph tagged {tag!r}")
