"""Read a SavedModel's SignatureDefs from ``saved_model.pb`` without importing TensorFlow.

The onnxruntime engine must answer TF Serving's metadata request (which prints the SavedModel's
``signature_def`` map) without importing TensorFlow. ``saved_model.pb`` is a protobuf
``SavedModel``; this module declares only the handful of fields on the path to the signatures
(same field numbers as tensorflow/core/protobuf/meta_graph.proto) in a private descriptor pool, so
every other field is skipped as unknown. The JSON form follows TF Serving's printer
(preserve_proto_field_names, always_print_primitive_fields).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.json_format import MessageToDict

_F = descriptor_pb2.FieldDescriptorProto

#: tensorflow/core/framework/types.proto, the values a serving signature can carry.
DATA_TYPES = {
    "DT_INVALID": 0, "DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5,
    "DT_INT8": 6, "DT_STRING": 7, "DT_COMPLEX64": 8, "DT_INT64": 9, "DT_BOOL": 10, "DT_QINT8": 11,
    "DT_QUINT8": 12, "DT_QINT32": 13, "DT_BFLOAT16": 14, "DT_QINT16": 15, "DT_QUINT16": 16,
    "DT_UINT16": 17, "DT_COMPLEX128": 18, "DT_HALF": 19, "DT_RESOURCE": 20, "DT_VARIANT": 21,
    "DT_UINT32": 22, "DT_UINT64": 23,
}


def _field(message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: int,
           type_name: str = "", repeated: bool = False) -> None:
    field = message.field.add(name=name, number=number, type=kind)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name:
        field.type_name = type_name


def _map_field(message: descriptor_pb2.DescriptorProto, name: str, number: int, value_type: str) -> None:
    entry_name = "".join(part.capitalize() for part in name.split("_")) + "Entry"
    entry = message.nested_type.add(name=entry_name)
    entry.options.map_entry = True
    _field(entry, "key", 1, _F.TYPE_STRING)
    _field(entry, "value", 2, _F.TYPE_MESSAGE, value_type)
    _field(message, name, number, _F.TYPE_MESSAGE, f".{message.name}.{entry_name}", repeated=True)


@cache
def _saved_model_class() -> type:
    file = descriptor_pb2.FileDescriptorProto(name="webapp_saved_model_subset.proto", syntax="proto3")
    data_type = file.enum_type.add(name="DataType")
    for name, number in DATA_TYPES.items():
        data_type.value.add(name=name, number=number)

    dim = file.message_type.add(name="Dim")
    _field(dim, "size", 1, _F.TYPE_INT64)
    _field(dim, "name", 2, _F.TYPE_STRING)
    shape = file.message_type.add(name="TensorShapeProto")
    _field(shape, "dim", 2, _F.TYPE_MESSAGE, ".Dim", repeated=True)
    _field(shape, "unknown_rank", 3, _F.TYPE_BOOL)
    tensor_info = file.message_type.add(name="TensorInfo")
    _field(tensor_info, "name", 1, _F.TYPE_STRING)
    _field(tensor_info, "dtype", 2, _F.TYPE_ENUM, ".DataType")
    _field(tensor_info, "tensor_shape", 3, _F.TYPE_MESSAGE, ".TensorShapeProto")
    file.message_type.add(name="TensorProto")  # signature defaults: kept opaque
    signature = file.message_type.add(name="SignatureDef")
    _map_field(signature, "inputs", 1, ".TensorInfo")
    _map_field(signature, "outputs", 2, ".TensorInfo")
    _field(signature, "method_name", 3, _F.TYPE_STRING)
    _map_field(signature, "defaults", 4, ".TensorProto")
    signature_map = file.message_type.add(name="SignatureDefMap")
    _map_field(signature_map, "signature_def", 1, ".SignatureDef")
    meta_info = file.message_type.add(name="MetaInfoDef")
    _field(meta_info, "tags", 4, _F.TYPE_STRING, repeated=True)
    meta_graph = file.message_type.add(name="MetaGraphDef")
    _field(meta_graph, "meta_info_def", 1, _F.TYPE_MESSAGE, ".MetaInfoDef")
    _map_field(meta_graph, "signature_def", 5, ".SignatureDef")
    saved_model = file.message_type.add(name="SavedModel")
    _field(saved_model, "saved_model_schema_version", 1, _F.TYPE_INT64)
    _field(saved_model, "meta_graphs", 2, _F.TYPE_MESSAGE, ".MetaGraphDef", repeated=True)

    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("SavedModel")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("SignatureDefMap")),
    )


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
    saved_model_class, signature_map_class = _saved_model_class()
    path = Path(version_dir) / "saved_model.pb"
    saved_model = saved_model_class()
    try:
        saved_model.ParseFromString(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from exc
    except Exception as exc:  # protobuf's DecodeError
        raise ValueError(f"{path}: not a SavedModel protobuf: {exc}") from exc
    for meta_graph in saved_model.meta_graphs:
        if tag in meta_graph.meta_info_def.tags:
            signature_map = signature_map_class()
            for name, signature in meta_graph.signature_def.items():
                signature_map.signature_def[name].CopyFrom(signature)
            return sorted_signature_maps(MessageToDict(
                signature_map,
                preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True,
            ))
    raise ValueError(f"{path}: no MetaGraph tagged {tag!r}")
