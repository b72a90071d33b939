"""eval-serving against the app started in the test: accuracy, per-request records, errors, reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_tools.__main__ import main as cli
from model_tools.client.eval_serving import (
    MAX_CONSECUTIVE_CONNECTION_ERRORS,
    choose_images,
    evaluate_endpoint,
    summarize,
)
from model_tools.client.serving_client import parse_endpoint


@pytest.fixture(scope="module")
def chosen() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return choose_images("validation", 40, seed=3)


def test_images_are_chosen_by_the_seed(chosen, validation_split) -> None:
    indices, images, labels = chosen
    again, _, _ = choose_images("validation", 40, seed=3)
    other, _, _ = choose_images("validation", 40, seed=4)
    np.testing.assert_array_equal(indices, again)
    assert not np.array_equal(indices, other)
    assert len(set(indices.tolist())) == 40 and np.all(np.diff(indices) > 0)
    np.testing.assert_array_equal(images, validation_split[0][indices])
    np.testing.assert_array_equal(labels, validation_split[1][indices])
    with pytest.raises(ValueError, match="more than"):
        choose_images("validation", 10**9, seed=0)


@pytest.mark.parametrize("route", ["tfserving", "predict"])
def test_every_request_is_recorded_with_the_served_models_answer(base_url, served_model, chosen,
                                                                 expected_classes, route) -> None:
    indices, images, labels = chosen
    url = f"{base_url}/v1/models/{served_model}:predict" if route == "tfserving" else f"{base_url}/predict"
    endpoint = parse_endpoint(f"app={url}")
    records = evaluate_endpoint(endpoint, indices, images, labels, progress=False)
    assert [r.index for r in records] == indices.tolist()
    assert [r.label for r in records] == labels.tolist()
    assert all(r.error is None and r.status == 200 and r.latency_ms > 0 for r in records)
    # The answers are the served model's own: onnxruntime on the version's model.onnx, directly.
    expected = expected_classes(images)
    assert [r.predicted for r in records] == expected.tolist()
    summary = summarize(endpoint, records)
    assert summary["accuracy"] == pytest.approx(float(np.mean(expected == labels)))
    assert summary["errors"] == 0 and summary["latency_ms"]["p50"] > 0


def test_unreachable_and_failing_endpoints_are_counted(base_url, dead_url, chosen) -> None:
    indices, images, labels = chosen
    dead = parse_endpoint(f"dead={dead_url}")
    records = evaluate_endpoint(dead, indices, images, labels, timeout=2, progress=False)
    summary = summarize(dead, records)
    assert summary["requests"] == 40 and summary["answered"] == 0 and summary["errors"] == 40
    assert sum(r.error.startswith("cannot reach dead") for r in records) == MAX_CONSECUTIVE_CONNECTION_ERRORS
    assert all(r.error.startswith("not sent") for r in records[MAX_CONSECUTIVE_CONNECTION_ERRORS:])

    missing = parse_endpoint(f"missing={base_url}/v1/models/no_such_model:predict")
    records = evaluate_endpoint(missing, indices[:5], images[:5], labels[:5], progress=False)
    assert all(r.status == 404 and r.predicted is None for r in records)
    assert "HTTP 404" in records[0].error and "no_such_model" in records[0].error


def test_cli_compares_endpoints_and_writes_the_report(base_url, predict_url, dead_url, tmp_path) -> None:
    out = tmp_path / "report"
    code = cli(["eval-serving", "--endpoint", f"app={predict_url}", "--endpoint", f"own={base_url}/predict",
                "-n", "12", "--seed", "1", "--out", str(out), "--no-progress"])
    assert code == 0
    report = json.loads((out / "eval_serving.json").read_text())
    assert [s["endpoint"] for s in report["summaries"]] == ["app", "own"]
    assert len(report["records"]) == 24
    for name in ("eval_serving.md", "eval_latency_box.png", "eval_latency_quantiles.png"):
        assert (out / name).stat().st_size > 0
    assert "| app | 12 | 0 |" in (out / "eval_serving.md").read_text()
    # An endpoint that answers nothing makes the command fail (a script notices a dead deployment).
    code = cli(["eval-serving", "--endpoint", f"app={predict_url}", "--endpoint", f"dead={dead_url}",
                "-n", "6", "--out", str(out), "--no-progress", "--timeout", "2"])
    assert code == 1
