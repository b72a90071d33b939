"""The parts of bench/peers/run.py that need no peer installed: request bodies and answers in each server's
format, the cache key of a peer's environment, the ratios and the doc sections it rewrites, and the
TorchServe handler's batching (the full comparison runs in tests/bench/test_peers.py)."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from tests.support.paths import REPO, served_version_dir


@pytest.fixture(autouse=True)
def peers_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # The scripts' own folders, as when bench/peers/run.py runs.
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    monkeypatch.syspath_prepend(str(REPO / "bench" / "peers"))


def images(count: int) -> np.ndarray:
    with np.load(REPO / "data" / "validation.npz") as data:
        return data["images"][:count]


@pytest.mark.parametrize("kind", ["tfserving", "v2", "bentoml"])
def test_each_rest_body_holds_the_same_pixels(kind: str) -> None:
    import peer_servers

    batch = images(3)
    body = json.loads(peer_servers.rest_body(kind, batch))
    rows = {"tfserving": lambda b: b["instances"], "bentoml": lambda b: b["images"],
            "v2": lambda b: np.reshape(b["inputs"][0]["data"], b["inputs"][0]["shape"])}[kind](body)
    np.testing.assert_allclose(np.asarray(rows), batch.reshape(3, 784) / 255.0)


def test_each_answer_format_gives_the_scores() -> None:
    import peer_servers

    scores = np.random.default_rng(0).random((2, 62)).astype(np.float32)
    answers = {
        "tfserving": {"predictions": scores.tolist()},
        "bentoml": scores.tolist(),
        "v2": {"outputs": [{"name": "scores", "shape": [2, 62], "datatype": "FP32",
                            "data": scores.ravel().tolist()}]},
    }
    for kind, answer in answers.items():
        np.testing.assert_array_equal(peer_servers.rest_scores(kind, json.dumps(answer).encode()), scores)


def test_a_changed_pin_gets_its_own_environment(tmp_path) -> None:
    from peer_venvs import env_folder, peer_pins, project_pin

    pins = peer_pins()
    assert all(project_pin("onnxruntime") in packages for packages in pins.values())  # the same engine
    first = env_folder(tmp_path, "mlserver", pins["mlserver"])
    assert env_folder(tmp_path, "mlserver", list(pins["mlserver"])) == first
    assert env_folder(tmp_path, "mlserver", [*pins["mlserver"][:-1], "onnxruntime==0.1"]) != first


def run(cores: int, ours: float, peers: dict[str, float], cell: str = "rest_b1_c8") -> dict:
    def figures(rps: float) -> dict:
        return {"requests_per_s": rps, "server_cpu_us_per_request": 1e6 / rps}

    servers = {"ours": {"name": "ours", "cells": {cell: figures(ours)}}}
    peer_cell = cell.replace("tfsgrpc", "v2grpc")
    servers.update({key: {"name": key, "cells": {peer_cell: figures(rps)}} for key, rps in peers.items()})
    return {"cores": cores, "servers": servers}


def test_ours_is_compared_with_the_best_peer_inside_each_run() -> None:
    from peer_report import ratios

    runs = [run(2, 300, {"a": 100, "b": 150}), run(2, 100, {"a": 100, "b": 50}),
            run(2, 900, {"a": 50, "b": 200})]
    (entry,) = ratios(runs, ["rest_b1_c8"])
    assert entry["throughput_ratio"] == pytest.approx(2.0)  # the median of 2.0, 1.0 and 4.5
    assert entry["best_peer"] == "b / a" and entry["runs"] == 3 and entry["cores"] == 2  # b best twice
    assert entry["cpu_ratio"] == pytest.approx(0.5)  # 1/2, 1/1, 1/4.5
    (mixed,) = ratios([run(2, 300, {"a": 100, "b": 150}), run(2, 300, {"a": 200, "b": 50}),
                       run(2, 300, {"a": 120, "b": 100})], ["rest_b1_c8"])
    assert mixed["best_peer"] == "a / b"  # best in two runs, then in one
    # TF Serving's gRPC (ours only) is compared with the peers' V2 gRPC of the same batch and concurrency.
    (grpc_entry,) = ratios([run(1, 90, {"a": 30}, cell="tfsgrpc_b1_c8")], ["tfsgrpc_b1_c8"])
    assert grpc_entry["throughput_ratio"] == pytest.approx(3.0) and grpc_entry["cores"] == 1


def test_the_doc_section_is_replaced_between_its_markers(tmp_path) -> None:
    from peer_report import DOCS_MARKERS, replace_between

    doc = tmp_path / "doc.md"
    begin, end = DOCS_MARKERS
    doc.write_text(f"before\n{begin}\nold table\n{end}\nafter\n")
    replace_between(doc, DOCS_MARKERS, "new table\n")
    assert doc.read_text() == f"before\n{begin}\nnew table\n{end}\nafter\n"
    doc.write_text("no markers\n")
    with pytest.raises(RuntimeError, match="no <!-- peers-table:begin -->"):
        replace_between(doc, DOCS_MARKERS, "x")


def test_the_repository_docs_have_the_sections_a_full_run_writes() -> None:
    from peer_report import DOCS_MARKERS, README_MARKERS

    assert all(marker in (REPO / "docs" / "benchmarks.md").read_text() for marker in DOCS_MARKERS)
    assert all(marker in (REPO / "README.md").read_text() for marker in README_MARKERS)


def test_torchserve_handler_answers_each_request_of_a_batch(tmp_path) -> None:
    import torchserve_handler
    from onnx_model import OnnxModel

    shutil.copy(served_version_dir() / "model.onnx", tmp_path / "model.onnx")
    shutil.copy(REPO / "bench" / "peers" / "onnx_model.py", tmp_path / "onnx_model.py")
    context = SimpleNamespace(system_properties={"model_dir": str(tmp_path)},
                              manifest={"model": {"serializedFile": "model.onnx"}})
    handler = torchserve_handler.EmnistOnnxHandler()
    handler.initialize(context)
    batch = images(4)
    requests = [{"body": {"instances": (batch[:1].reshape(1, -1) / 255.0).tolist()}},
                {"body": json.dumps({"instances": (batch[1:].reshape(3, -1) / 255.0).tolist()}).encode()}]
    answers = handler.handle(requests, context)
    expected = OnnxModel(str(served_version_dir() / "model.onnx")).predict(batch.reshape(4, -1) / 255.0)
    assert [len(answer["predictions"]) for answer in answers] == [1, 3]
    np.testing.assert_allclose(np.concatenate([a["predictions"] for a in answers]), expected, atol=1e-6)


def test_servers_take_the_first_cores_and_the_load_clients_the_rest() -> None:
    import run

    cpus = run.ALL_CPUS
    servers, clients = run.core_sets(len(cpus))
    assert servers == ",".join(map(str, cpus)) and clients == set(cpus)  # nothing left: shared
    if len(cpus) > 1:
        servers, clients = run.core_sets(1)
        assert servers == str(cpus[0]) and clients == set(cpus[1:])
    for count in (0, len(cpus) + 1):
        with pytest.raises(ValueError, match="this process may run on"):
            run.core_sets(count)
