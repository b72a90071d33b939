"""throughput against the app started in the test: closed-loop figures, payload kinds, errors, report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_tools.__main__ import main as cli
from model_tools.client.serving_client import encode_payload, parse_endpoint
from model_tools.client.throughput import measure, parse_int_list


@pytest.fixture(scope="module")
def images(validation_split) -> np.ndarray:
    return validation_split[0][:8]


@pytest.mark.parametrize("payload", ["json", "b64", "npy"])
def test_every_payload_kind_is_served(predict_url, images, payload) -> None:
    endpoint = parse_endpoint(f"app={predict_url}")
    body, content_type = encode_payload(images, payload)
    cell = measure(endpoint, body, content_type, batch_size=8, concurrency=2, duration=0.4, warmup=0)
    assert cell["errors"] == 0, cell["error_kinds"]
    assert cell["requests"] > 0
    assert cell["images_per_s"] == pytest.approx(cell["requests_per_s"] * 8)
    assert len(cell["latencies_ms"]) == cell["requests"]
    assert 0 < cell["latency_ms"]["p50"] <= cell["latency_ms"]["p99"] <= cell["latency_ms"]["max"]


@pytest.mark.parametrize("payload", ["json", "npy"])
def test_npy_answers_are_read_and_checked(predict_url, images, payload) -> None:
    endpoint = parse_endpoint(f"app={predict_url}")
    body, content_type = encode_payload(images, payload)
    cell = measure(endpoint, body, content_type, 8, 1, 0.3, warmup=0, accept="application/x-npy")
    assert cell["errors"] == 0 and cell["requests"] > 0, cell["error_kinds"]
    wrong = measure(endpoint, body, content_type, 5, 1, 0.3, warmup=0, accept="application/x-npy")
    assert wrong["requests"] == 0
    assert all("expected [5, classes]" in message for message in wrong["error_kinds"])


def test_failing_endpoints_count_errors(base_url, predict_url, dead_url, images) -> None:
    body, content_type = encode_payload(images[:1], "json")
    dead = measure(parse_endpoint(f"dead={dead_url}"), body, content_type, 1, 2, 0.3, warmup=0)
    assert dead["requests"] == 0 and dead["errors"] > 0
    assert all("cannot reach dead" in message for message in dead["error_kinds"])
    missing = parse_endpoint(f"missing={base_url}/v1/models/nope:predict")
    cell = measure(missing, body, content_type, 1, 1, 0.3, warmup=0)
    assert cell["requests"] == 0 and cell["errors"] > 0
    assert all(message.startswith("HTTP 404") for message in cell["error_kinds"])
    # A server answering something other than the batch asked for is an error, not a success.
    wrong = measure(parse_endpoint(f"wrong={predict_url}"), body, content_type, batch_size=5, concurrency=1,
                    duration=0.3, warmup=0)
    assert wrong["requests"] == 0 and wrong["errors"] > 0


def test_cli_writes_tables_and_figures(base_url, predict_url, tmp_path) -> None:
    out = tmp_path / "tp"
    code = cli(["throughput", "--endpoint", f"app={predict_url}", "--endpoint", f"own={base_url}/predict",
                "--duration", "0.3", "--warmup", "0", "--batch-sizes", "1,16", "--concurrency", "1,2",
                "--payload", "npy", "--answer", "npy", "--out", str(out), "--no-progress"])
    assert code == 0
    report = json.loads((out / "throughput.json").read_text())
    cells = {(c["endpoint"], c["batch_size"], c["concurrency"]) for c in report["cells"]}
    assert cells == {(e, b, c) for e in ("app", "own") for b in (1, 16) for c in (1, 2)}
    assert report["settings"]["answer"] == "npy"
    assert all(c["requests"] > 0 and c["errors"] == 0 for c in report["cells"])
    for name in ("throughput.md", "throughput_bars.png", "throughput_latency_quantiles.png"):
        assert (out / name).stat().st_size > 0


def test_option_parsing() -> None:
    assert parse_int_list("1, 128", "--batch-sizes") == [1, 128]
    for bad in ("", "0", "a,b", "-1"):
        with pytest.raises(ValueError):
            parse_int_list(bad, "--batch-sizes")
