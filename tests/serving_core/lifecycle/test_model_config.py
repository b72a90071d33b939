"""TF Serving's model_config_list file: parsing, errors, and a core serving two models from it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from serving_core.errors import ModelNotFoundError
from serving_core.lifecycle.manager import VersionLabelError
from serving_core.lifecycle.model_config import (
    load_model_config_file,
    parse_model_config_text,
    parse_version_labels,
)
from serving_core.lifecycle.policy import ModelConfigError, VersionPolicy, parse_version_policy
from serving_core.server_core import ServerCore
from tests.support.model_versions import (
    GatedFactory,
    RecordingFactory,
    expected_scores,
    publish,
    write_onnx_version,
)

TWO_MODELS = """
model_config_list {
  config {
    name: "emnist"
    base_path: "models/emnist"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config {
    name: "digits"
    base_path: "/srv/models/digits"
    model_platform: "onnxruntime"
    model_version_policy { latest { num_versions: 2 } }
  }
}
"""


def test_two_models_with_policies_and_labels(tmp_path):
    emnist, digits = parse_model_config_text(TWO_MODELS, base_dir=tmp_path)
    assert emnist.name == "emnist"
    assert emnist.base_path == (tmp_path / "models" / "emnist").resolve()
    assert emnist.platform == "tensorflow"
    assert emnist.policy == VersionPolicy("specific", versions=(1, 2))
    assert dict(emnist.labels) == {"stable": 1, "canary": 2}
    assert digits.base_path == Path("/srv/models/digits")
    assert digits.platform == "onnxruntime"
    assert digits.policy == VersionPolicy("latest", num_versions=2)
    assert dict(digits.labels) == {}


def test_defaults_match_tf_serving(tmp_path):
    (source,) = parse_model_config_text(
        'model_config_list { config { name: "m" base_path: "/m" } }', base_dir=tmp_path
    )
    assert source.policy == VersionPolicy("latest", num_versions=1)
    assert source.platform == "tensorflow"
    (source,) = parse_model_config_text(
        'model_config_list { config { name: "m" base_path: "/m" model_version_policy { all {} } } }'
    )
    assert source.policy.kind == "all"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_config_list { config { name: 'a' base_path: '/a' ", "not a ModelServerConfig"),
        ("model_config_list { config { nme: 'a' } }", "not a ModelServerConfig"),
        ("", "no model_config_list"),
        ("model_config_list { }", "lists no model"),
        ("model_config_list { config { base_path: '/a' } }", r"config\[0\]: missing name"),
        ("model_config_list { config { name: 'a' } }", "missing base_path"),
        ("model_config_list { config { name: 'a' base_path: '/a' } config { name: 'a' base_path: '/b' } }",
         "duplicate model name 'a'"),
        ("model_config_list { config { name: 'a' base_path: '/a' model_platform: 'pytorch' } }",
         "model_platform 'pytorch' is not supported"),
        ("model_config_list { config { name: 'a' base_path: '/a' version_labels { key: 'a b' value: 1 } } }",
         "invalid version label 'a b'"),
    ],
)
def test_invalid_configs_are_refused_with_a_reason(text, message):
    with pytest.raises(ModelConfigError, match=message):
        parse_model_config_text(text)


def test_config_file_errors_name_the_file(tmp_path):
    with pytest.raises(ModelConfigError, match="cannot read model config file"):
        load_model_config_file(tmp_path / "missing.config")
    path = tmp_path / "models.config"
    path.write_text("model_config_list { config { name: 'a' } }")
    with pytest.raises(ModelConfigError, match=r"models\.config: .*missing base_path"):
        load_model_config_file(path)


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        (None, VersionPolicy("latest", 1)),
        ("latest", VersionPolicy("latest", 1)),
        ("latest:3", VersionPolicy("latest", 3)),
        ("ALL", VersionPolicy("all")),
        ("specific:3,1,3", VersionPolicy("specific", versions=(1, 3))),
    ],
)
def test_policy_settings(text, policy):
    assert parse_version_policy(text) == policy


@pytest.mark.parametrize("text", ["newest", "latest:0", "latest:x", "specific:", "specific:a", "all:2"])
def test_bad_policy_settings(text):
    with pytest.raises(ModelConfigError):
        parse_version_policy(text)


def test_policy_selection():
    on_disk = {1, 2, 3, 5}
    assert VersionPolicy("latest", 1).select(on_disk) == {5}
    assert VersionPolicy("latest", 2).select(on_disk) == {3, 5}
    assert VersionPolicy("latest", 9).select(on_disk) == on_disk
    assert VersionPolicy("all").select(on_disk) == on_disk
    assert VersionPolicy("specific", versions=(2, 4)).select(on_disk) == {2}
    assert VersionPolicy("latest", 1).select(set()) == set()


def test_label_settings():
    assert parse_version_labels("stable=1, canary=2") == {"stable": 1, "canary": 2}
    assert parse_version_labels("") == {}
    for bad in ("stable", "stable=x", "9=1"):
        with pytest.raises(ModelConfigError):
            parse_version_labels(bad)


def write_config(path: Path, models: list[tuple[str, str, str]]) -> Path:
    """models: (name, base_path, extra text) -> a model_config_list file."""
    configs = "\n".join(
        f'  config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" {extra} }}'
        for name, base, extra in models
    )
    path.write_text(f"model_config_list {{\n{configs}\n}}\n", encoding="utf-8")
    return path


def test_core_serves_two_models_from_a_config_file_and_reloads_it(tmp_path, make_core):
    images = np.random.default_rng(1).random((2, 784), dtype=np.float32)
    for seed, (name, version) in enumerate([("letters", 1), ("letters", 2), ("digits", 1)], start=1):
        write_onnx_version(tmp_path / "models" / name / str(version), seed=seed)
    config = write_config(tmp_path / "models.config", [
        ("letters", "models/letters", 'version_labels { key: "stable" value: 1 } '
                                      "model_version_policy { all {} }"),
        ("digits", "models/digits", ""),
    ])
    core = make_core(None, RecordingFactory(), MODEL_CONFIG_FILE=str(config))
    with core:
        assert core.manager.model_names() == ["letters", "digits"]
        assert core.manager.ready()
        for name, version, seed in [("letters", None, 2), ("letters", 1, 1), ("digits", None, 3)]:
            with core.manager.acquire(name, version=version) as servable:
                np.testing.assert_allclose(servable.engine.predict(images), expected_scores(seed, images),
                                           atol=1e-5)
        with core.manager.acquire("letters", label="stable") as servable:
            assert servable.version == 1

        # The config changes: "digits" leaves, "extra" arrives, the label moves to version 2.
        publish(tmp_path / "models" / "digits" / "1", tmp_path / "models" / "extra", 4)
        write_config(config, [
            ("letters", "models/letters", 'version_labels { key: "stable" value: 2 } '
                                          "model_version_policy { all {} }"),
            ("extra", "models/extra", ""),
        ])
        core.watcher.poll_once()  # the file is only re-read when asked (poll interval, SIGHUP)
        assert core.manager.model_names() == ["letters", "digits"]
        core.watcher.poll_once(reload_config=True)
        assert core.manager.model_names() == ["letters", "extra"]
        assert core.manager.labels("letters") == {"stable": 2}
        with pytest.raises(ModelNotFoundError, match=r"Latest\(digits\)"):
            core.manager.acquire("digits").__enter__()
        with core.manager.acquire("extra") as servable:
            assert servable.version == 4

        # A broken config is refused and the running one stays (TF Serving does the same).
        config.write_text("model_config_list { config { name: 'letters' } }")
        core.watcher.poll_once(reload_config=True)
        assert core.manager.model_names() == ["letters", "extra"]
        with pytest.raises(VersionLabelError):
            core.manager.acquire("extra", label="stable").__enter__()


def config_message(root: Path, names: list[str]):
    """A ``ModelServerConfig`` message as a client's ReloadConfig request carries it."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    configs = " ".join(f'config {{ name: "{name}" base_path: "{root / name}" }}' for name in names)
    message = model_server_config_pb2.ModelServerConfig()
    return text_format.Parse(f"model_config_list {{ {configs} }}", message)


def test_reload_config_replaces_the_running_models_before_returning(tmp_path, make_core):
    for seed, name in enumerate(["letters", "digits"], start=1):
        write_onnx_version(tmp_path / name / "1", seed=seed)
    with make_core(tmp_path / "letters", RecordingFactory()) as core:
        assert core.manager.model_names() == ["letters"]
        sources = core.reload_config(config_message(tmp_path, ["digits"]))
        assert [source.name for source in sources] == core.manager.model_names() == ["digits"]
        assert core.manager.has_available_version("digits")
        with pytest.raises(ModelNotFoundError):
            core.manager.acquire("letters").__enter__()

        # A config that does not hold is refused whole: the running models stay.
        with pytest.raises(ModelConfigError, match="duplicate model name 'letters'"):
            core.reload_config(config_message(tmp_path, ["letters", "letters"]))
        assert core.manager.model_names() == ["digits"]


def test_start_fails_clearly_on_a_bad_config_file(tmp_path, make_core):
    path = write_config(tmp_path / "models.config", [("a", "models/a", "model_version_policy { latest {")])
    with pytest.raises(ModelConfigError, match="models.config"):
        make_core(None, None, MODEL_CONFIG_FILE=str(path)).start()


def test_config_file_is_polled(tmp_path, make_core):
    write_onnx_version(tmp_path / "a" / "1", seed=1)
    write_onnx_version(tmp_path / "b" / "1", seed=2)
    config = write_config(tmp_path / "models.config", [("a", "a", "")])
    core = make_core(None, RecordingFactory(), MODEL_CONFIG_FILE=str(config),
                     MODEL_CONFIG_FILE_POLL_SECONDS=0.05)
    with core:
        write_config(config, [("a", "a", ""), ("b", "b", "")])
        deadline = time.monotonic() + 10
        while not b_is_available(core) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert core.manager.model_names() == ["a", "b"]
        assert b_is_available(core)
        assert core.manager.ready()


def b_is_available(core: ServerCore) -> bool:
    try:
        return core.manager.status("b")[0]["state"] == "AVAILABLE"
    except ModelNotFoundError:
        return False


def test_moving_a_model_loads_the_new_path_before_leaving_the_old(tmp_path, make_core):
    """A config reload that changes base_path: the old versions answer until the new ones are AVAILABLE."""
    images = np.random.default_rng(2).random((1, 784), dtype=np.float32)
    write_onnx_version(tmp_path / "old" / "1", seed=1)
    write_onnx_version(tmp_path / "new" / "1", seed=2)
    config = write_config(tmp_path / "models.config", [("m", "old", "")])
    factory = GatedFactory("new")
    core = make_core(None, factory, MODEL_CONFIG_FILE=str(config))
    with core:
        write_config(config, [("m", "new", "")])
        reload = threading.Thread(target=core.watcher.poll_once, kwargs={"reload_config": True})
        reload.start()
        assert factory.loading.wait(10)
        with core.manager.acquire("m") as servable:  # still the old path's model while the new one loads
            np.testing.assert_allclose(servable.engine.predict(images), expected_scores(1, images), atol=1e-5)
        factory.release.set()
        reload.join(10)
        with core.manager.acquire("m") as servable:
            np.testing.assert_allclose(servable.engine.predict(images), expected_scores(2, images), atol=1e-5)
        assert factory.made_for(tmp_path / "old" / "1")[0].closed


def test_adding_a_model_does_not_make_a_serving_core_unready(tmp_path, make_core):
    write_onnx_version(tmp_path / "a" / "1", seed=1)
    config = write_config(tmp_path / "models.config", [("a", "a", "")])
    factory = GatedFactory("b")
    core = make_core(None, factory, MODEL_CONFIG_FILE=str(config))
    with core:
        write_onnx_version(tmp_path / "b" / "1", seed=2)
        write_config(config, [("a", "a", ""), ("b", "b", ""), ("empty", "missing", "")])
        reload = threading.Thread(target=core.watcher.poll_once, kwargs={"reload_config": True})
        reload.start()
        assert factory.loading.wait(10)
        assert core.manager.ready()  # "b" is on its first load: it does not count yet
        factory.release.set()
        reload.join(10)
        # "empty" has no version at all once scanned: not ready, and the status says why.
        assert not core.manager.ready()
        with pytest.raises(ModelNotFoundError, match="Could not find any versions of model empty"):
            core.manager.status("empty")
