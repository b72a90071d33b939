"""bench/peers/run.py in its quick mode: our server and every peer that installs, on every cell they speak.

Marked ``peers`` (its own CI step, ``make test-peers``): the first run installs each peer's pinned packages
into ~/.cache/emnist-peers, which takes minutes; later runs reuse them. A peer whose packages cannot install
(or TorchServe without a Java runtime) is skipped with the reason the script printed. Figures are printed
by the script, never asserted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.scripts import run_bench_script
from webapp.settings import available_cores

pytestmark = pytest.mark.peers

REST_CELLS = {"rest_b1_c1", "rest_b1_c8", "rest_b128_c8"}
V2_GRPC_CELLS = {"v2grpc_b1_c8", "v2grpc_b128_c8"}
TFS_GRPC_CELLS = {"tfsgrpc_b1_c8", "tfsgrpc_b128_c8"}
PEERS = {"mlserver": ("MLServer", REST_CELLS | V2_GRPC_CELLS), "bentoml": ("BentoML", REST_CELLS),
         "litserve": ("LitServe", REST_CELLS), "torchserve": ("TorchServe", REST_CELLS)}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("peers")
    result = run_bench_script("peers/run.py", "--quick", "--out", str(out), timeout=2400)
    report = json.loads((out / "peers.json").read_text()) if (out / "peers.json").is_file() else None
    return {"result": result, "report": report, "out": out}


def server_entry(quick_run: dict[str, Any], key: str) -> dict[str, Any]:
    report = quick_run["report"]
    assert report is not None, quick_run["result"].stdout[-2000:] + quick_run["result"].stderr[-3000:]
    (run,) = report["runs"]
    entry = run["servers"].get(key)
    assert entry is not None, sorted(run["servers"])
    assert "error" not in entry, entry["error"][-2000:]
    return entry


def check_cells(entry: dict[str, Any], cells: set[str]) -> None:
    assert set(entry["cells"]) == cells, entry.get("cell_errors")
    for key, figures in entry["cells"].items():
        assert figures["errors"] == 0, key
        if "_b1_" in key:  # a batch-128 cell of 2 s may see no answer on a busy machine
            assert figures["requests"] > 0 and figures["server_cpu_us_per_request"] > 0, key
    assert entry["rss_mb"] > 0 and entry["processes"] >= 1


def test_ours_is_measured_on_every_cell(quick_run: dict[str, Any]) -> None:
    entry = server_entry(quick_run, "ours")
    check_cells(entry, REST_CELLS | V2_GRPC_CELLS | TFS_GRPC_CELLS)
    # REST (gunicorn master + a worker per core) and gRPC (a worker per core) under one launcher.
    assert entry["processes"] == 2 + 2 * available_cores()
    assert quick_run["result"].returncode == 0, quick_run["result"].stderr[-3000:]


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_peer_is_measured_on_the_cells_it_speaks(quick_run: dict[str, Any], peer: str) -> None:
    name, cells = PEERS[peer]
    report = quick_run["report"]
    assert report is not None, quick_run["result"].stderr[-3000:]
    if name in report["settings"]["skipped"]:
        pytest.skip(f"{name} not measured: {report['settings']['skipped'][name]}")
    check_cells(server_entry(quick_run, peer), cells)
    versions = report["settings"]["versions"]
    assert f"{name} " in versions, versions


def test_every_figure_names_its_cores_and_ours_is_compared_per_cell(quick_run: dict[str, Any]) -> None:
    report = quick_run["report"]
    assert report is not None, quick_run["result"].stderr[-3000:]
    cores = available_cores()
    assert report["rows"] and all(row["cores"] == cores for row in report["rows"])
    skipped = report["settings"]["skipped"]
    if any(name not in skipped for name, _ in PEERS.values()):
        compared = {entry["cell"] for entry in report["ratios"]}
        assert compared >= REST_CELLS
        assert all(entry["throughput_ratio"] >= 0 and entry["best_peer"] for entry in report["ratios"])
    text = (quick_run["out"] / "peers.md").read_text()
    assert "| cell | server | cores |" in text and f"| {cores} |" in text
