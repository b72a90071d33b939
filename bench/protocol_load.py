"""Load cells for GraphPipe and the Open Inference Protocol (V2 REST with binary tensors, V2 gRPC).

Each cell is one bounded load against a running server, with an established load generator: wrk (with
``post_headers.lua``) for the HTTP protocols, h2load (Debian's ``nghttp2-client``) with gRPC's framing for
V2 gRPC. Bodies are made once from real validation images by the protocols' own clients (GraphPipe's
``convert``, tritonclient's ``generate_request_body``, the service's generated messages) as float32
pixels/255 (``*_uint8_*`` cells: uint8 pixels, the bytes of the TF Serving ``.npy`` cell), and each cell
first checks that one real answer holds N x 62 scores. A cell returns
``{"client", "requests_per_s", "images_per_s", "latency_ms": {"p50", "p90", "p99"}, "errors",
"requests"}``.

``run_cell`` is what ``bench/run_bench.py`` calls for these cells, on each app it starts (the GraphPipe
port on) and on the model server's gRPC workers beside it.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.tensors import NUM_PIXELS, pixels_to_unit

HEADERS_SCRIPT = Path(__file__).resolve().parent / "post_headers.lua"
V2_HEADER = "Inference-Header-Content-Length"
GRPC_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"


@dataclass(frozen=True)
class ProtocolCell:
    key: str
    protocol: str  # graphpipe | v2-binary | v2-grpc
    batch_size: int
    concurrency: int
    #: The tensor's element type: float32 pixels/255 (the model's input) or uint8 pixels (4x fewer bytes,
    #: as the TF Serving .npy cell sends).
    dtype: str = "float32"




def _scores_ok(scores: Any, count: int) -> None:
    array = np.asarray(scores)
    if array.shape != (count, NUM_CLASSES) or not np.allclose(array.sum(axis=1), 1, atol=1e-3):
        raise RuntimeError(f"the server's answer is not {count} x {NUM_CLASSES} scores: {array.shape}")


def tensor(images: np.ndarray, dtype: str = "float32") -> np.ndarray:
    """[N,784] float32 pixels/255, or the uint8 pixels themselves."""
    rows = images.reshape(len(images), NUM_PIXELS)
    return rows.astype(np.uint8) if dtype == "uint8" else pixels_to_unit(rows)


def graphpipe_body(images: np.ndarray, dtype: str = "float32") -> bytes:
    """A GraphPipe InferRequest of the images [N,784], serialized by GraphPipe's own client."""
    from graphpipe import convert

    x = tensor(images, dtype)
    return bytes(convert.serialize_infer_request(convert.InferReq(None, [x], None, None)))


def v2_binary_body(images: np.ndarray, dtype: str = "float32") -> tuple[bytes, int]:
    """(body, JSON length) of a V2 infer request of binary FP32 or UINT8 tensors, by tritonclient.http."""
    import tritonclient.http as httpclient

    x = tensor(images, dtype)
    datatype = "UINT8" if dtype == "uint8" else "FP32"
    inputs = [httpclient.InferInput("images", list(x.shape), datatype)]
    inputs[0].set_data_from_numpy(x, binary_data=True)
    wanted = [httpclient.InferRequestedOutput("scores", binary_data=True)]
    body, json_size = httpclient.InferenceServerClient.generate_request_body(inputs, outputs=wanted)
    return body, json_size


def v2_grpc_message(images: np.ndarray, model: str) -> bytes:
    """A serialized ModelInferRequest with raw_input_contents (what tritonclient.grpc sends)."""
    from webapp.grpc.v2 import open_inference_grpc_pb2 as pb

    x = pixels_to_unit(images.reshape(len(images), NUM_PIXELS))
    request = pb.ModelInferRequest(model_name=model)
    request.inputs.add(name="images", datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(x.astype("<f4").tobytes())
    return request.SerializeToString()


def _wrk(script: Path, url: str, body: Path, args: list[str], concurrency: int, duration: float
         ) -> dict[str, Any]:
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
               "-s", str(script), url, "--", str(body), *args]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    line = next((x for x in output.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary: {output.stdout[-300:]} {output.stderr[-300:]}")
    raw = json.loads(line[len("WRK_JSON "):])
    ok = raw["requests"] - raw["errors"]["status"]
    return {"client": "wrk", "requests_per_s": ok / (raw["duration_us"] / 1e6),
            "latency_ms": {k: raw["latency_us"][k] / 1000.0 for k in ("p50", "p90", "p99")},
            "errors": sum(raw["errors"].values()), "requests": raw["requests"]}


def http_cell(url: str, body: bytes, content_type: str, headers: dict[str, str], concurrency: int,
              duration: float, folder: Path) -> dict[str, Any]:
    """One bounded wrk load of ``body`` POSTed with ``headers``."""
    path = folder / f"body-{abs(hash(body))}.bin"
    path.write_bytes(body)
    return _wrk(HEADERS_SCRIPT, url, path, [content_type, *(f"{k}: {v}" for k, v in headers.items())],
                concurrency, duration)


def grpc_cell(target: str, message: bytes, concurrency: int, duration: float, folder: Path,
              expected_bytes: int) -> dict[str, Any]:
    """One bounded h2load run of a unary gRPC call (length-prefixed message, gRPC's headers).

    h2load reads HTTP statuses, not gRPC's: a cell counts an answer as an error unless its data is at
    least ``expected_bytes`` (the scores), and the caller checks one real answer first.
    """
    body = folder / f"grpc-{abs(hash(message))}.bin"
    body.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)
    log = folder / "h2load.tsv"
    command = ["h2load", "-D", str(max(1, round(duration))), "-c", str(concurrency), "-m", "1", "-t", "1",
               "-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers",
               f"--log-file={log}", f"http://{target}{GRPC_INFER_PATH}"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    text = output.stdout
    done = _h2load_number(text, r"requests: \d+ total, \d+ started, (\d+) done")
    succeeded = _h2load_number(text, r"(\d+) succeeded")
    data = _h2load_number(text, r"\((\d+)\) data")
    seconds = float(_h2load_match(text, r"finished in ([\d.]+)s"))
    latencies = np.loadtxt(log, usecols=2, ndmin=1) / 1000.0 if log.stat().st_size else np.zeros(0)
    short = succeeded and data / succeeded < expected_bytes
    ok = 0 if short else succeeded
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99]) if latencies.size else (float("nan"),) * 3
    return {"client": "h2load", "requests_per_s": ok / seconds, "errors": done - ok, "requests": done,
            "latency_ms": {"p50": float(p50), "p90": float(p90), "p99": float(p99)}}


def _h2load_match(text: str, pattern: str) -> str:
    import re

    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"h2load gave no {pattern!r}: {text[-400:]}")
    return match.group(1)


def _h2load_number(text: str, pattern: str) -> int:
    return int(_h2load_match(text, pattern))


def run_cell(cell: ProtocolCell, images: np.ndarray, urls: dict[str, str], duration: float, folder: Path,
             model: str) -> dict[str, Any]:
    """One cell against running servers: ``urls`` has "rest" (http://host:port), "graphpipe"
    (http://host:port of the GraphPipe port) and "grpc" (host:port of a V2 gRPC server)."""
    batch = images[:cell.batch_size]
    if cell.protocol == "graphpipe":
        from graphpipe import remote

        url = urls["graphpipe"] + "/"
        _scores_ok(remote.execute(url, tensor(batch, cell.dtype)), len(batch))
        result = http_cell(url, graphpipe_body(batch, cell.dtype), "application/octet-stream", {},
                           cell.concurrency, duration, folder)
    elif cell.protocol == "v2-binary":
        import tritonclient.http as httpclient

        url = f"{urls['rest']}/v2/models/{model}/infer"
        body, json_size = v2_binary_body(batch, cell.dtype)
        answer = _post(url, body, {"Content-Type": "application/octet-stream", V2_HEADER: str(json_size)})
        length = answer[1].get(V2_HEADER)
        parsed = httpclient.InferenceServerClient.parse_response_body(
            answer[0], header_length=int(length) if length else None)
        _scores_ok(parsed.as_numpy("scores"), len(batch))
        result = http_cell(url, body, "application/octet-stream", {V2_HEADER: str(json_size)},
                           cell.concurrency, duration, folder)
    elif cell.protocol == "v2-grpc":
        import grpc

        from webapp.grpc.v2 import open_inference_grpc_pb2 as pb
        from webapp.grpc.v2 import open_inference_grpc_pb2_grpc as pb_grpc

        message = v2_grpc_message(batch, model)
        with grpc.insecure_channel(urls["grpc"]) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            reply = stub.ModelInfer(pb.ModelInferRequest.FromString(message))
        _scores_ok(np.frombuffer(reply.raw_output_contents[0], "<f4").reshape(len(batch), -1), len(batch))
        result = grpc_cell(urls["grpc"], message, cell.concurrency, duration, folder,
                           len(batch) * NUM_CLASSES * 4)
    else:
        raise ValueError(f"unknown protocol {cell.protocol!r}")
    result["images_per_s"] = result["requests_per_s"] * cell.batch_size
    return result


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    import http.client
    from urllib.parse import urlsplit

    split = urlsplit(url)
    connection = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
    try:
        connection.request("POST", split.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}: {data[:300]!r}")
        return data, dict(response.getheaders())
    finally:
        connection.close()
