"""bench/protocol_load.py in its quick mode: every GraphPipe and V2 cell runs and prints figures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.support.paths import REPO


def run(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "bench" / "protocol_load.py"), *args], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("wrk") and shutil.which("h2load")), reason="needs wrk and h2load")
def test_protocol_load_quick(tmp_path):
    pytest.importorskip("graphpipe.convert", reason="pip install --no-deps graphpipe==1.0.4")
    pytest.importorskip("tritonclient.http")
    out = tmp_path / "figures.json"
    result = run("--quick", "--json", str(out), timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert set(figures["cells"]) >= {"graphpipe_b128_c8", "graphpipe_b1_c8", "v2_binary_b128_c8",
                                     "v2_binary_b1_c8", "v2_grpc_b128_c8", "v2_grpc_b1_c8"}
    for key, cell in figures["cells"].items():
        assert cell["requests"] > 0 and cell["errors"] == 0, key
        assert cell["latency_ms"]["p50"] <= cell["latency_ms"]["p99"], key
        batch = 128 if "b128" in key else 1
        assert cell["images_per_s"] == pytest.approx(cell["requests_per_s"] * batch)
    assert figures["cells"]["v2_grpc_b1_c8"]["client"] == "h2load"
    ratios = set(figures["ratios"])
    assert {"graphpipe_b128_c8 / compute floor", "v2_binary_b128_c8 / compute floor"} <= ratios
    assert "| graphpipe_b128_c8 | wrk |" in result.stdout


def test_unknown_cells_and_missing_tools_fail_clearly():
    result = run("--cells", "nope", timeout=60)
    assert result.returncode == 2 and "unknown cell: nope" in result.stderr
