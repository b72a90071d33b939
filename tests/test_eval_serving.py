"""eval-serving against the app started in the test: accuracy, per-request records, errors, reports."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
from conftest import SERVED_MODEL, served_version_dir
from live_server import dead_url, live_app

from model_tools.__main__ import main as cli
from model_tools.client.eval_serving import (
    MAX_CONSECUTIVE_CONNECTION_ERRORS,
    choose_images,
    evaluate_endpoint,
    summarize,
)
from model_tools.client.serving_client import (
    EndpointError,
    parse_endpoint,
    parse_endpoints,
    predicted_classes,
)
from model_tools.data.datasets import to_model_input


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with live_app() as url:
        yield url


@pytest.fixture(scope="module")
def chosen() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return choose_images("validation", 40, seed=3)


def test_images_are_chosen_by_the_seed(chosen: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    indices, images, labels = chosen
    again, _, _ = choose_images("validation", 40, seed=3)
    other, _, _ = choose_images("validation", 40, seed=4)
    np.testing.assert_array_equal(indices, again)
    assert not np.array_equal(indices, other)
    assert len(set(indices.tolist())) == 40 and images.shape == (40, 28, 28) and labels.shape == (40,)
    with pytest.raises(ValueError, match="more than"):
        choose_images("validation", 10**9, seed=0)


def test_every_request_is_recorded_with_the_served_models_answer(
    base_url: str, chosen: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    from webapp.engine import load_engine

    indices, images, labels = chosen
    for url in (f"{base_url}/v1/models/{SERVED_MODEL}:predict", f"{base_url}/predict"):
        endpoint = parse_endpoint(f"app={url}")
        records = evaluate_endpoint(endpoint, indices, images, labels, progress=False)
        assert [r.index for r in records] == indices.tolist()
        assert all(r.error is None and r.status == 200 and r.latency_ms > 0 for r in records)
        # The answers are the served model's own: the same classes as the engine in-process.
        engine = load_engine("onnxruntime", served_version_dir())
        expected = engine.predict(to_model_input(images)).argmax(axis=1)
        assert [r.predicted for r in records] == expected.tolist()
        summary = summarize(endpoint, records)
        assert summary["accuracy"] == pytest.approx(float(np.mean(expected == labels)))
        assert summary["errors"] == 0 and summary["latency_ms"]["p50"] > 0


def test_unreachable_and_failing_endpoints_are_counted(
    base_url: str, chosen: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    indices, images, labels = chosen
    dead = parse_endpoint(f"dead={dead_url()}")
    records = evaluate_endpoint(dead, indices, images, labels, timeout=2, progress=False)
    summary = summarize(dead, records)
    assert summary["requests"] == 40 and summary["answered"] == 0 and summary["errors"] == 40
    assert sum(r.error.startswith("cannot reach dead") for r in records) == MAX_CONSECUTIVE_CONNECTION_ERRORS
    assert all(r.error.startswith("not sent") for r in records[MAX_CONSECUTIVE_CONNECTION_ERRORS:])

    missing = parse_endpoint(f"missing={base_url}/v1/models/no_such_model:predict")
    records = evaluate_endpoint(missing, indices[:5], images[:5], labels[:5], progress=False)
    assert all(r.status == 404 and r.predicted is None for r in records)
    assert "HTTP 404" in records[0].error and "no_such_model" in records[0].error


def test_cli_compares_endpoints_and_writes_the_report(base_url: str, tmp_path) -> None:
    out = tmp_path / "report"
    good = f"app={base_url}/v1/models/{SERVED_MODEL}:predict"
    code = cli(["eval-serving", "--endpoint", good, "--endpoint", f"own={base_url}/predict",
                "-n", "12", "--seed", "1", "--out", str(out), "--no-progress"])
    assert code == 0
    report = json.loads((out / "eval_serving.json").read_text())
    assert [s["endpoint"] for s in report["summaries"]] == ["app", "own"]
    assert len(report["records"]) == 24
    for name in ("eval_serving.md", "eval_latency_box.png", "eval_latency_quantiles.png"):
        assert (out / name).stat().st_size > 0
    assert "| app | 12 | 0 |" in (out / "eval_serving.md").read_text()
    # An endpoint that answers nothing makes the command fail (a script notices a dead deployment).
    code = cli(["eval-serving", "--endpoint", good, "--endpoint", f"dead={dead_url()}", "-n", "6",
                "--out", str(out), "--no-progress", "--timeout", "2"])
    assert code == 1


def test_endpoint_and_answer_parsing() -> None:
    assert parse_endpoint("http://127.0.0.1:8501/v1/models/m:predict").format == "tfserving"
    assert parse_endpoint("x=http://127.0.0.1:8000/predict").format == "predict"
    for bad in ("x=ftp://host/predict", "x=not a url", "x=http://127.0.0.1:99999/p"):
        with pytest.raises(ValueError):
            parse_endpoint(bad)
    with pytest.raises(ValueError, match="unique"):
        parse_endpoints(["a=http://h/predict", "a=http://h2/predict"])
    # TF Serving's answer for a signature with two outputs: one object per row.
    body = json.dumps({"predictions": [{"scores": [0.1, 0.7, 0.2], "classes": 1},
                                       {"scores": [0.9, 0.05, 0.05], "classes": 0}]}).encode()
    assert predicted_classes(body, "tfserving", 2).tolist() == [1, 0]
    assert predicted_classes(b'{"outputs": [[0, 1], [1, 0]]}', "tfserving", 2).tolist() == [1, 0]
    with pytest.raises(EndpointError, match="no 3 predictions"):
        predicted_classes(body, "tfserving", 3)
    with pytest.raises(EndpointError, match="not JSON"):
        predicted_classes(b"<html>", "tfserving", 1)
