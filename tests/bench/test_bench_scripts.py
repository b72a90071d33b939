"""Every benchmark script runs in its quick mode (figures are printed, never asserted)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import MODELS, REPO
from tests.support.scripts import run_bench_script
from webapp.settings import available_cores


def run(script: str, *args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    return run_bench_script(script, *args, timeout=timeout)


CLIENTS = ["python", "wrk"] if shutil.which("wrk") else ["python"]


@pytest.mark.slow
@pytest.mark.parametrize("client", CLIENTS)
def test_run_bench_quick(tmp_path: Path, client: str) -> None:
    out = tmp_path / "bench"
    result = run("run_bench.py", "--quick", "--client", client, "--out", str(out),
                 "--markdown", str(tmp_path / "table.md"))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "bench.json").read_text())
    (run_0,) = report["runs"]
    servers = {s["server"]: s for s in run_0["servers"]}
    assert set(servers) == {"noop", "onnxruntime", "front-end"}
    for server in servers.values():
        assert "error" not in server, server.get("error")
        assert all(cell["requests"] > 0 and cell["errors"] == 0 for cell in server["cells"].values())
        assert len(server["worker_rss_mb"]) == available_cores()  # gunicorn.conf.py: one worker per core
    # Every protocol is measured on the app (gRPC on its gRPC twin), the REST ones on the front end too.
    assert {"grpc_b1_c8", "graphpipe_b128_c8", "v2_binary_b128_c8", "v2_grpc_b1_c8", "b1_predict_c1"} <= set(
        servers["onnxruntime"]["cells"])
    assert {"b1_predict_c1", "b1_json_c8"} <= set(servers["front-end"]["cells"])
    assert "grpc_b1_c8" not in servers["noop"]["cells"] and "b1_predict_c1" not in servers["noop"]["cells"]
    for name in ("onnxruntime 1 image c=8 / no-op floor", "onnxruntime gRPC 1 image c=8 / REST :predict 1 "
                 "image c=8", "front end /predict 1 image c=1: p50 over in-process onnxruntime's (ms)"):
        assert name in run_0["ratios"], sorted(run_0["ratios"])
    assert run_0["compute_floor"]["onnxruntime"]["b128_t1_images_per_s"] > 0
    assert run_0["cold_start"]["onnxruntime"]["total_s"] > 0
    assert "| app onnxruntime (default) |" in (tmp_path / "table.md").read_text()
    assert report["settings"]["client"].startswith(client)


def test_noop_floor_reads_the_body_and_answers_fixed_json() -> None:
    from bench.noop_app import FIXED_ANSWER, create_noop_app

    client = create_noop_app().test_client()
    response = client.post("/v1/models/anything:predict", data=b"x" * 100_000,
                           content_type="application/json")
    assert response.status_code == 200 and response.data == FIXED_ANSWER
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("script", ["cold_start.py", "compute_floor.py"])
def test_helper_scripts_print_json(script: str) -> None:
    extra = ["--duration", "0.2"] if script == "compute_floor.py" else []
    result = run(script, "--engine", "onnxruntime", *extra, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["engine"] == "onnxruntime"
    values = [v for k, v in figures.items() if k.endswith(("_s", "_per_s"))]
    assert values and all(v > 0 for v in values)


def test_model_budget_measures_single_models_and_ensembles() -> None:
    v1, v3 = (str(MODELS / "emnist" / v / "model.onnx") for v in ("1", "3"))
    result = run("model_budget.py", v3, f"{v1}+{v3}", "--rounds", "2", "--runs", "2", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    single, ensemble, ratio = (json.loads(line) for line in result.stdout.strip().splitlines())
    assert ensemble["onnx_mb"] == round((Path(v1).stat().st_size + Path(v3).stat().st_size) / 1e6, 2)
    assert len(single["batch128_ms"]) == 2 and all(ms > 0 for ms in single["batch128_ms"])
    assert single["peak_rss_mb"] > 20 and ensemble["peak_rss_mb"] > 20
    assert ratio["against"] == v3 and ratio["batch128_ratio"][0] > 0
    refused = run("model_budget.py", str(REPO / "nope.onnx"), timeout=60)
    assert refused.returncode == 2 and "no such file" in refused.stderr


def test_bad_arguments_fail_clearly() -> None:
    result = run("run_bench.py", "--servers", "nginx", timeout=60)
    assert result.returncode == 2 and "unknown server or cell: nginx" in result.stderr


def test_hot_reload_quick() -> None:
    result = run("hot_reload.py", "--steady", "0.3", "--poll", "0.2", "--threads", "2", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "0 failed" in result.stdout and "first answer by version 2" in result.stdout


@pytest.mark.slow
def test_slow_clients_quick() -> None:
    result = run("slow_clients.py", "--quick", timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "40 slow connections open" in result.stdout and "closed by the server" in result.stdout


@pytest.mark.slow
def test_request_cost_quick(tmp_path: Path) -> None:
    result = run("request_cost.py", "--quick", "--json", str(tmp_path / "cost.json"), timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads((tmp_path / "cost.json").read_text())
    assert len(figures["cases"]) == 5 and all(case["peak_rss_mb"] > 0 for case in figures["cases"])
    assert "| PNG RGBA 2000x2000, 4 at once |" in result.stdout


def test_confidence_cue_quick() -> None:
    result = run("confidence_cue.py", "--quick", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "500 validation images" in result.stdout
    assert "| confident |" in result.stdout and "| all |" in result.stdout


@pytest.mark.skipif(shutil.which("h2load") is None and not os.environ.get("CI"),
                    reason="h2load (nghttp2-client) is not installed; make test installs it")
@pytest.mark.parametrize("server", ["threads", "aio"])
def test_grpc_floor_quick(server: str) -> None:
    result = run("grpc_floor.py", "--quick", *(["--aio"] if server == "aio" else []), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["server"] == ("grpc.aio" if server == "aio" else "grpc.server")
    cell = figures["cells"]["grpc_b1_c8"]
    assert cell["requests"] > 0 and cell["errors"] == 0 and cell["server_cpu_us_per_rpc"] > 0


@pytest.mark.slow
def test_server_memory_reports_every_process_of_the_model_server(monkeypatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    monkeypatch.setenv("EMNIST_GRPC_WORKERS", "1")
    result = run("server_memory.py", "--engine", "onnxruntime", "--requests", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.splitlines()[-1])
    roles = sorted(entry["role"] for entry in report["processes"])
    assert roles == ["gRPC worker", "gunicorn master", "gunicorn worker", "launcher"]
    assert all(entry["rss_mb"] >= entry["pss_mb"] > 0 and entry["loaded_rss_mb"] > 0
               for entry in report["processes"])
    assert report["total_pss_mb"] == sum(entry["pss_mb"] for entry in report["processes"])


def test_openapi_fuzz_quick() -> None:
    result = run("openapi_fuzz.py", "--examples", "2", "--negative", "1", timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "failures: 0" in lines
    requests = next(int(line.split()[1]) for line in lines if line.startswith("requests:"))
    assert requests > 30  # every operation of the document at least once
    assert any(line.startswith("POST /v1/models/{name}:predict ") for line in lines)


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (Debian nghttp2-client) is not installed")
def test_compare_checkouts_quick_measures_both_servers() -> None:
    result = run("compare_checkouts.py", "--before", ".", "--after", ".", "--cases", "b1_json_c1,b128_npy_c8",
                 "--quick", timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| b")]
    assert [row.split(" | ")[0] for row in rows] == ["| b1_json_c1", "| b128_npy_c8"], result.stdout
    for row in rows:  # before, after: a median and a range of CPU microseconds; then their ratio
        before, after, ratio = row.strip("| ").split(" | ")[1:]
        assert float(before.split()[0].replace(",", "")) > 0 and float(after.split()[0].replace(",", "")) > 0
        assert float(ratio) > 0


def test_compare_app_cpu_quick_measures_both_apps() -> None:
    result = run("compare_app_cpu.py", "--before", ".", "--after", ".", "--quick", timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| b")]
    assert [row.split(" | ")[0] for row in rows] == ["| b1_json_predict", "| b128_npy_predict"], result.stdout
    for row in rows:  # before, after: a median and a range of CPU microseconds per call; then their ratio
        before, after, ratio = row.strip("| ").split(" | ")[1:]
        assert float(before.split()[0].replace(",", "")) > 0 and float(after.split()[0].replace(",", "")) > 0
        assert float(ratio) > 0


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (Debian nghttp2-client) is not installed")
def test_compare_grpc_checkouts_quick_measures_both_model_servers() -> None:
    result = run("compare_grpc_checkouts.py", "--before", ".", "--after", ".", "--workers", "1",
                 "--cases", "grpc_b1_c8,v2_grpc_b128_c8", "--quick", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "grpc_b" in line]
    assert [row.split(" | ")[0] for row in rows] == ["| grpc_b1_c8", "| v2_grpc_b128_c8"], result.stdout
    for row in rows:  # CPU per RPC before, after (median and range), their ratio, then RPCs/s of each
        before, after, ratio, before_rate, after_rate = row.strip("| ").split(" | ")[1:]
        assert float(before.split()[0].replace(",", "")) > 0 and float(after.split()[0].replace(",", "")) > 0
        assert float(ratio) > 0
        assert float(before_rate.replace(",", "")) > 0 and float(after_rate.replace(",", "")) > 0


@pytest.mark.slow
def test_metrics_cost_quick(tmp_path: Path) -> None:
    result = run("metrics_cost.py", "--quick", "--json", str(tmp_path / "cost.json"))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "cost.json").read_text())
    assert set(report["median_requests_per_s"]) == {"on", "off"}
    assert all(value > 0 for value in report["median_requests_per_s"].values())
    assert "on / off:" in result.stdout


def test_preprocess_cost_quick(tmp_path: Path) -> None:
    result = run("preprocess_cost.py", "--quick", "--json", str(tmp_path / "cost.json"), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "upload |" not in line]
    assert any("photo 640x480" in row for row in rows) and any("canvas 280x280" in row for row in rows)
    figures = json.loads((tmp_path / "cost.json").read_text())["uploads"]
    assert figures and all(f["before_ms"] > 0 and f["after_ms"] > 0 for f in figures.values())


def test_soak_reports_failures_as_bursts_per_kind_and_error() -> None:
    from bench.soak import Outcomes, failure_bursts

    outcomes = Outcomes()
    outcomes.failures[(0, "grpc")] += [(1.0, "UNAVAILABLE"), (3.5, "UNAVAILABLE"), (30.0, "UNAVAILABLE"),
                                       (2.0, "DEADLINE_EXCEEDED")]
    outcomes.failures[(1, "rest")] += [(61.0, "503")]
    assert failure_bursts(outcomes) == [
        (1.0, 3.5, "grpc", 2, "UNAVAILABLE"),
        (2.0, 2.0, "grpc", 1, "DEADLINE_EXCEEDED"),
        (30.0, 30.0, "grpc", 1, "UNAVAILABLE"),
        (61.0, 61.0, "rest", 1, "503"),
    ]
