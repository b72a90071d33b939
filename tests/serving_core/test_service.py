"""The inference service: the one place that pins a version, checks the signature, picks batcher or engine."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from serving_core.errors import Code, InvalidArgumentError, ModelNotFoundError
from serving_core.request import ModelSpec, SignatureInput
from tests.support.model_versions import RecordingFactory, expected_scores, publish, write_onnx_version
from tests.support.requests import inference_request

IMAGES = np.random.default_rng(5).random((4, 784), dtype=np.float32)


def two_models_config(tmp_path: Path, built: dict[int, Path]) -> Path:
    """Models "left" (seed 1) and "right" (seed 2) served from one model_config_list file."""
    publish(built[1], tmp_path / "left", 1)
    publish(built[2], tmp_path / "right", 1)
    config = tmp_path / "models.config"
    config.write_text(
        'model_config_list { config { name: "left" base_path: "left" } '
        'config { name: "right" base_path: "right" } }', encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("service_versions")
    return {seed: write_onnx_version(root / str(seed), seed=seed) for seed in (1, 2)}


@pytest.mark.parametrize("batching", ["0", "1"])
def test_two_models_answer_their_own_scores_with_and_without_batching(tmp_path, built, make_core, batching):
    """Requests to two models at once, batched or not: each is answered by its own model, never the other."""
    config = two_models_config(tmp_path, built)
    core = make_core(None, RecordingFactory(), MODEL_CONFIG_FILE=str(config), ENABLE_BATCHING=batching,
                     BATCHING_MAX_BATCH_SIZE=64, BATCHING_TIMEOUT_MICROS=2000)
    with core:
        assert (core.service.batchers is not None) is (batching == "1")

        def ask(index: int) -> tuple[str, np.ndarray, np.ndarray]:
            name = ("left", "right")[index % 2]
            rows = IMAGES[index % 4 : index % 4 + 1]
            return name, rows, core.service.scores(inference_request(ModelSpec(name), rows)).scores

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(ask, range(200)))
    for name, rows, scores in answers:
        np.testing.assert_allclose(scores, expected_scores(1 if name == "left" else 2, rows), atol=1e-5)


def test_predict_runs_the_signature_and_names_the_version(tmp_path, built, make_core):
    base = tmp_path / "emnist"
    publish(built[1], base, 3)
    with make_core(base, RecordingFactory()) as core:
        answer = core.service.predict(inference_request(ModelSpec("emnist"), IMAGES))
        assert (answer.model.name, answer.model.version, answer.model.engine) == ("emnist", 3, "onnxruntime")
        assert answer.signature_name == "serving_default"
        assert list(answer.outputs) == ["scores"]
        np.testing.assert_allclose(answer.outputs["scores"], expected_scores(1, IMAGES), atol=1e-5)
        scores = core.service.scores(inference_request(ModelSpec("emnist", version=3), IMAGES[:1]))
        assert len(scores.labels) == 62 and scores.labels[10] == "A"


def test_a_body_is_decoded_only_once_the_version_is_pinned(tmp_path, built, make_core):
    """The service asks the request for its signature, then for the tensor of that signature's input."""
    base = tmp_path / "emnist"
    publish(built[1], base, 1)
    asked: list[object] = []

    class Body:
        def signature_name(self) -> str:
            asked.append("signature")
            return ""

        def tensor(self, signature_input: SignatureInput, budget: object) -> np.ndarray:
            asked.append(signature_input)
            return IMAGES[:2]

    with make_core(base, RecordingFactory()) as core:
        with pytest.raises(ModelNotFoundError):
            core.service.predict(inference_request(ModelSpec("nope"), Body()))
        assert asked == []  # an unknown model is refused before the body is read
        answer = core.service.predict(inference_request(ModelSpec("emnist"), Body()))
    assert asked == ["signature", SignatureInput("images", "DT_FLOAT")]
    assert answer.outputs["scores"].shape == (2, 62)


def test_refusals_carry_tf_servings_codes_and_messages(tmp_path, built, make_core):
    base = tmp_path / "emnist"
    publish(built[1], base, 1)
    with make_core(base, RecordingFactory()) as core:
        service = core.service
        with pytest.raises(InvalidArgumentError, match='"nope" not found in signature def') as refused:
            service.predict(inference_request(ModelSpec("emnist", signature_name="nope"), IMAGES))
        assert (refused.value.code, refused.value.http_status) == (Code.INVALID_ARGUMENT, 400)
        not_found = r"^Servable not found for request: Specific\(emnist, 9\)$"
        with pytest.raises(ModelNotFoundError, match=not_found):
            service.metadata(ModelSpec("emnist", version=9))
        with pytest.raises(InvalidArgumentError, match="No signature was found with the name: classify"):
            # a bare ONNX version: no classify signature
            service.classify(inference_request(ModelSpec("emnist"), IMAGES))
        signatures = service.metadata(ModelSpec("emnist")).signature_defs["signature_def"]
        assert signatures.keys() == {"serving_default"}


def test_readiness_follows_the_lifecycle(tmp_path, built, make_core):
    base = tmp_path / "emnist"
    base.mkdir()
    core = make_core(base, RecordingFactory())
    assert not core.service.readiness("emnist").ready  # not started
    with core:
        readiness = core.service.readiness("emnist")
        assert (readiness.ready, readiness.error) == (False, "no model version is AVAILABLE yet")
        publish(built[2], base, 1)
        core.watcher.poll_once()
        readiness = core.service.readiness("emnist")
        assert readiness.ready and readiness.model.version == 1


def test_a_version_that_fails_its_check_never_answers(tmp_path, built, make_core):
    """While version 2 loads (and then fails its sanity check), every request is answered by version 1."""
    base = tmp_path / "emnist"
    publish(built[1], base, 1)
    checking, release = threading.Event(), threading.Event()

    class BadScoresFactory(RecordingFactory):
        def __call__(self, kind: str, version_dir: Path):
            engine = super().__call__(kind, version_dir)
            if Path(version_dir).name == "2":
                inner_predict = engine.inner.predict

                def predict(images: np.ndarray) -> np.ndarray:
                    checking.set()
                    assert release.wait(10)
                    return inner_predict(images)[:, :10]  # the wrong shape: the check must refuse it

                engine.inner.predict = predict
            return engine

    with make_core(base, BadScoresFactory()) as core:
        publish(built[2], base, 2)
        loading = threading.Thread(target=core.watcher.poll_once)
        loading.start()
        assert checking.wait(10)
        assert {s["version"]: s["state"] for s in core.manager.status("emnist")}["2"] == "LOADING"
        for _ in range(20):
            assert core.service.scores(inference_request(ModelSpec("emnist"), IMAGES[:1])).model.version == 1
        with pytest.raises(ModelNotFoundError):
            core.service.scores(inference_request(ModelSpec("emnist", version=2), IMAGES[:1]))
        release.set()
        loading.join(10)
        (failed,) = core.manager.status("emnist", version=2)
        assert failed["state"] == "END" and "(1, 10)" in failed["status"]["error_message"]
        assert core.service.scores(inference_request(ModelSpec("emnist"), IMAGES[:1])).model.version == 1
