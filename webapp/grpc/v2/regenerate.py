"""Regenerate this folder's gRPC modules from the Open Inference Protocol's own ``.proto``.

    python webapp/grpc/v2/regenerate.py PATH/TO/open_inference_grpc.proto

The ``.proto`` is ``specification/protocol/open_inference_grpc.proto`` of the protocol's repository,
kserve/open-inference-protocol (package ``inference``, service ``GRPCInferenceService``; the file
KServe ships as ``grpc_predict_v2.proto``); it is not copied into this repository, and the script
refuses any other content than the one the checked-in modules were generated from (its SHA-256
below). Needs ``grpcio-tools`` (the ``dev`` extra).

One step after ``protoc``: the messages are registered in a private descriptor pool instead of
protobuf's default one. Triton's client (``tritonclient.grpc``) registers its own ``inference.*``
messages, with the same names, in the default pool, and two files defining one name cannot share a
pool; with a pool of its own, this server's code and that client load side by side in one process
(the wire format is the same: field numbers and the service path do not change).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PROTO_NAME = "open_inference_grpc.proto"
#: open_inference_grpc.proto at kserve/open-inference-protocol d49cc23 (2025-05-11).
PROTO_SHA256 = "0f715460d60b014a23e06ac8e768cfa3d8336221cdb66bd7aeeab6dc27620b0f"
DEFAULT_POOL = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
PRIVATE_POOL = ("# A private pool (see regenerate.py): tritonclient has the same names in the default one.\n"
                "_POOL = _descriptor_pool.DescriptorPool()\n"
                "DESCRIPTOR = _POOL.AddSerializedFile(")
HEADER = ("# Generated from the Open Inference Protocol's open_inference_grpc.proto (sha256 {sha}) by\n"
          "# webapp/grpc/v2/regenerate.py with grpcio-tools; do not edit, regenerate.\n")


def regenerate(proto: Path) -> None:
    digest = hashlib.sha256(proto.read_bytes()).hexdigest()
    if digest != PROTO_SHA256:
        sys.exit(f"{proto}: sha256 {digest} is not the pinned {PROTO_SHA256} (update it knowingly)")
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(proto, Path(folder) / PROTO_NAME)
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-Iwebapp/grpc/v2={folder}", f"--python_out={REPO}",
             f"--grpc_python_out={REPO}", str(Path(folder) / PROTO_NAME)],
            cwd=REPO, check=True)
    header = HEADER.format(sha=PROTO_SHA256)
    messages = HERE / "open_inference_grpc_pb2.py"
    text = messages.read_text()
    if DEFAULT_POOL not in text:
        sys.exit("protoc's output changed: no default-pool registration to replace")
    messages.write_text(header + text.replace(DEFAULT_POOL, PRIVATE_POOL))
    services = HERE / "open_inference_grpc_pb2_grpc.py"
    services.write_text(header + services.read_text())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    regenerate(Path(sys.argv[1]))
